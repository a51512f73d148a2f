"""What a run reports, and what it is given: its time budget and a progress listener."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aurora_batch.model import RunStatus


class Progress(Protocol):
    """What a run tells whoever watches it (the CLI's progress bar); the Lambda watches nothing."""

    def phase(self, name: str) -> None:
        """A phase starts (phases may nest: validate runs inside swap)."""
        ...

    def phase_finished(self, name: str, seconds: float) -> None: ...

    def estimate(self, rows: int | None) -> None:
        """The planner's estimate of the rows the extract will count (None: no estimate)."""
        ...

    def rows(self, rows: int, staged_bytes: int) -> None:
        """Rows extracted so far and bytes staged so far, the part being written included."""
        ...


class NoProgress:
    def phase(self, name: str) -> None:
        return None

    def phase_finished(self, name: str, seconds: float) -> None:
        return None

    def estimate(self, rows: int | None) -> None:
        return None

    def rows(self, rows: int, staged_bytes: int) -> None:
        return None


@dataclass
class Budget:
    """The invocation's time limit: `remaining()` seconds left, or None for no limit."""

    remaining: Callable[[], float] | None = None
    margin_seconds: float = 120.0

    def low(self) -> bool:
        return self.remaining is not None and self.remaining() < self.margin_seconds

    @property
    def limited(self) -> bool:
        return self.remaining is not None


@dataclass
class RunReport:
    run_id: str
    table: str
    mode: str
    status: str = RunStatus.FAILED.value
    target: str | None = None
    rows_extracted: int = 0
    rows_staged: int = 0
    rows_loaded: int = 0
    rows_merged: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    bytes_staged: int = 0
    parts: int = 0
    extract_streams: int = 1  # parallel COPY streams of the extract (block ranges of one snapshot)
    watermark_before: str | None = None
    watermark_after: str | None = None
    null_watermark_rows: int = 0
    clamped_values: dict[str, int] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    duration_seconds: float = 0.0
    schema_changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The cheap drift signal of a finished incremental run (logic/verify/drift.py); None: not counted.
    key_count_source: int | None = None
    key_count_target: int | None = None
    key_count_difference: int | None = None
    verify_due: bool | None = None
    verify_triggered: bool = False  # verify_on_drift started a verify of the table
    source_read_only: bool | None = None  # every source session was checked read-only before reading
    source_role_read_only: bool | None = None  # the role's default_transaction_read_only is on
    transform: dict[str, Any] | None = None  # the hook, and the rows given to it and yielded by it
    error: dict[str, Any] | None = None
    continuation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
