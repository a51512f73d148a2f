"""What a verify reports, and what it tells whoever watches it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from aurora_batch.logic.verify.compare import Comparison, Level

SAMPLE_KEYS = 20


class VerifyProgress(Protocol):
    def level_started(self, modulus: int) -> None:
        """The next level of the descent (buckets of key hash mod `modulus`) is being read."""
        ...

    def level(self, level: Level) -> None:
        """That level has been compared."""
        ...


class NoVerifyProgress:
    def level_started(self, modulus: int) -> None:
        return None

    def level(self, level: Level) -> None:
        return None


@dataclass
class VerifyReport:
    run_id: str
    table: str
    status: str = "failed"  # exact | drift | repaired | locked | failed
    repair: bool = False
    delete_mode: str = "soft"
    source_rows: int = 0
    target_rows: int = 0
    source_ranges: int = 1  # block ranges of the source digested at once (EXTRACT_STREAMS)
    levels: list[dict[str, int]] = field(default_factory=list)
    missing: int = 0
    deleted: int = 0
    changed: int = 0
    pending: int = 0
    samples: dict[str, list[list[str]]] = field(default_factory=dict)
    rows_read_by_copy: int = 0  # source rows a repair re-read
    repaired_merged: int = 0
    repaired_deleted: int = 0
    remaining: int | None = None  # drift still found after the repair (deletes excluded with delete_mode off)
    started_at: str = ""
    finished_at: str = ""
    duration_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    def record(self, comparison: Comparison) -> None:
        self.source_rows, self.target_rows = comparison.source_rows, comparison.target_rows
        self.levels = [asdict(level) for level in comparison.levels]
        for kind in ("missing", "deleted", "changed", "pending"):
            setattr(self, kind, comparison.count(kind))
            keys = [d.key for d in comparison.differences if d.kind == kind][:SAMPLE_KEYS]
            if keys:
                self.samples[kind] = [[str(v) for v in key] for key in keys]

    @property
    def drift(self) -> int:
        return self.missing + self.deleted + self.changed

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drift": self.drift}
