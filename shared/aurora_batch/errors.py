"""Error hierarchy: every error is either retryable (transient) or permanent (terminal).

Errors carry structured fields (table, column, run_id, ...) so that logs, run reports
and the CLI can show them without parsing prose. Values of secrets never go into an
error: only the names of paths and keys do.
"""

from __future__ import annotations

from typing import Any


class AuroraBatchError(Exception):
    """Base class. Use RetryableError or PermanentError, never this directly."""

    retryable: bool = False

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.kind, "message": self.message, "retryable": self.retryable, **self.fields}

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in sorted(self.fields.items()))
        return f"{self.message} ({details})"


class RetryableError(AuroraBatchError):
    """A transient failure: running again later may succeed (network, throttling, lock)."""

    retryable = True


class PermanentError(AuroraBatchError):
    """A terminal failure: running again without a change to input or configuration fails again."""

    retryable = False


# --- configuration and input -------------------------------------------------------------


class ConfigError(PermanentError):
    """Bad configuration or event. Raised before any connection is opened."""


# --- secrets ----------------------------------------------------------------------------


class VaultError(RetryableError):
    """Vault could not be reached or answered with a server error."""


class VaultSealedError(RetryableError):
    """Vault is sealed."""


class VaultPermissionError(PermanentError):
    """The Vault token or role may not read the path."""


class VaultLoginError(VaultPermissionError):
    """Vault rejected the login (unknown role, principal not bound, no AWS credentials)."""


class VaultRequestError(PermanentError):
    """Vault rejected the request as malformed, or the path is not on a KV mount."""


class VaultSecretNotFoundError(PermanentError):
    """No secret at the path."""


class VaultSecretShapeError(PermanentError):
    """The secret exists but lacks a key or has a key of the wrong type."""


# --- source -----------------------------------------------------------------------------


class SourceConnectionError(RetryableError):
    """PostgreSQL could not be reached."""


class SourceTableNotFoundError(PermanentError):
    """The named source table does not exist (or is not visible to the role)."""


class SourceSchemaError(PermanentError):
    """The source schema cannot be replicated as configured (missing column, no key, ...)."""


class ValueConversionError(PermanentError):
    """A source value cannot be represented losslessly in the target type."""


class ExtractError(RetryableError):
    """The extract stream failed mid-way."""


class SourceQueryError(PermanentError):
    """PostgreSQL rejected the extract query itself (a bad `where`, a type the query cannot read):
    running it again fails the same way."""


class SourceNotReadOnlyError(PermanentError):
    """A source session is not read-only (`SHOW transaction_read_only` is off): nothing is read."""


# --- staging ----------------------------------------------------------------------------


class StagingError(RetryableError):
    """Uploading or listing staged parts failed."""


class StagedObjectTooLargeError(PermanentError):
    """A staged object is larger than a read may take: a retry reads the same object."""


# --- target -----------------------------------------------------------------------------


class TargetConnectionError(RetryableError):
    """Snowflake could not be reached."""


class TargetAuthenticationError(PermanentError):
    """Snowflake rejected the credentials (unregistered key, wrong password): retrying cannot help."""


class TargetSchemaError(PermanentError):
    """The target table is incompatible with the source (type change that cannot be applied)."""


class TargetPrivilegeError(PermanentError):
    """The loader role lacks a privilege the load needs (OWNERSHIP of the target), or replacing the
    target would break an object that depends on it (a stream): an administrator must act."""


class LoadError(RetryableError):
    """A Snowflake statement failed during the load."""


class ValidationError(PermanentError):
    """Post-load validation found a difference between source and target."""


# --- state ------------------------------------------------------------------------------


class StateError(RetryableError):
    """The state store could not be read or written."""


class LockHeldError(RetryableError):
    """Another run holds the table's lease."""


class LeaseLostError(RetryableError):
    """This run's lease was taken over (it expired) while the run was working."""


class WatermarkConflictError(PermanentError):
    """A watermark write lost a conditional check (it would move backwards or was changed)."""


class LeaseActiveError(PermanentError):
    """An admin change was refused because a run holds an unexpired lease on the table."""


class StateTableError(PermanentError):
    """The state table is missing or not accessible, or an item has a shape this code cannot use."""


class AuditRecordExistsError(PermanentError):
    """An audit record with the same key exists: audit records are never overwritten."""


# --- admin caller -----------------------------------------------------------------------


class AdminAccessDeniedError(PermanentError):
    """The admin function's caller may not do this: no signed identity, or a principal that
    ADMIN_PRINCIPALS does not list. Field: principal."""


class CallerIdentityError(PermanentError):
    """STS GetCallerIdentity failed (no credentials, refused, unreachable): the caller is unknown,
    so nothing is changed."""


class TransformHookError(PermanentError):
    """A user transformation hook raised."""


# --- invocation -------------------------------------------------------------------------


class RunFailedError(PermanentError):
    """A replication run failed: the Lambda handler raises it so the invocation counts as an error
    (alarms, on-failure destination). Fields: table, run_id."""


class InvokeError(RetryableError):
    """An asynchronous invocation (fan-out or continuation) was not accepted. Field: function."""
