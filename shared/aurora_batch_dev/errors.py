"""Errors of the local development stack and its Snowflake emulator.

They stay out of the production hierarchy (aurora_batch.errors): no Lambda raises or handles them.
Like production errors they carry structured fields (service, errno, sqlstate, ...) and never the
value of a secret.
"""

from __future__ import annotations

from typing import Any


class DevStackError(Exception):
    """Base class of the development package's errors. Use a subclass."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in sorted(self.fields.items()))
        return f"{self.message} ({details})"


class LocalStackError(DevStackError):
    """A service of the local development stack failed to start, seed or answer."""


class EmulatorStatementError(DevStackError):
    """The Snowflake emulator rejects a statement (fields errno and sqlstate as Snowflake would send)."""


class EmulatorLoginError(DevStackError):
    """The Snowflake emulator rejects a login (field errno as Snowflake would send; reason for its log)."""
