"""Typed checkpoints: where a run continued over several invocations resumes.

A checkpoint is stored in the table's state as a JSON-like mapping; `to_state` and
`from_state` are the only places that know its shape. Dates and timestamps are stored as
`{"iso": ..., "kind": "date" | "datetime"}` so they come back with their type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from aurora_batch.model import StagedPart

FULL = "full"
INCREMENTAL = "incremental"


LongStatement = Literal["copy", "merge", "overwrite", "insert"]


@dataclass(frozen=True)
class RunningQuery:
    """A long statement still running in Snowflake when the invocation's time ran out: the next
    invocation waits for it by its query id instead of running it again."""

    query_id: str
    statement: LongStatement
    parts: tuple[StagedPart, ...] = field(default=())  # a COPY's parts, to check its per-file results

    def to_state(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "statement": self.statement,
            "parts": [[p.index, p.key, p.stage_path, p.rows, p.bytes] for p in self.parts],
        }

    @classmethod
    def from_state(cls, saved: Mapping[str, Any] | None) -> RunningQuery | None:
        if not saved:
            return None
        parts = tuple(StagedPart(int(i), str(k), str(path), int(r), int(b)) for i, k, path, r, b in saved["parts"])
        return cls(str(saved["query_id"]), saved["statement"], parts)


@dataclass(frozen=True)
class FullRefreshCheckpoint:
    """A full refresh stopped at a part boundary: its staging table holds the parts so far (or will,
    once `running` has finished). `extracted` says the whole table has been staged."""

    run_id: str
    next_part: int
    resume_after: list[str] | None  # the key of the last row staged, as text
    observed: dict[str, Any]  # StreamObserver.to_checkpoint()
    upper: Any = None
    cap: Any = None
    running: RunningQuery | None = None
    extracted: bool = False

    @property
    def rows_staged(self) -> int:
        return int(self.observed["rows"])

    def to_state(self) -> dict[str, Any]:
        return {
            "mode": FULL,
            "run_id": self.run_id,
            "next_part": self.next_part,
            "resume_after": self.resume_after,
            "observed": self.observed,
            "upper": _jsonable(self.upper),
            "cap": _jsonable(self.cap),
            "running": self.running.to_state() if self.running else None,
            "extracted": self.extracted,
        }

    @classmethod
    def from_state(cls, saved: Mapping[str, Any]) -> FullRefreshCheckpoint:
        return cls(
            run_id=str(saved["run_id"]),
            next_part=int(saved["next_part"]),
            resume_after=saved["resume_after"],
            observed=saved["observed"],
            upper=_restore(saved.get("upper")),
            cap=_restore(saved.get("cap")),
            running=RunningQuery.from_state(saved.get("running")),
            extracted=bool(saved.get("extracted", False)),
        )


@dataclass(frozen=True)
class IncrementalCheckpoint:
    """An incremental run stopped early: it keeps its lower bound and cap, and resumes after a row."""

    run_id: str
    lower: Any
    cap: Any
    resume_after: list[str] | None
    # A COPY or MERGE still running: what the load needs to finish after it (see RunningQuery).
    running: RunningQuery | None = None
    observed: dict[str, Any] | None = None
    newest: Any = None  # the watermark the window reaches once the MERGE has committed
    finished: bool = False  # the window was read to its end

    def to_state(self) -> dict[str, Any]:
        return {
            "mode": INCREMENTAL,
            "run_id": self.run_id,
            "lower": _jsonable(self.lower),
            "cap": _jsonable(self.cap),
            "resume_after": self.resume_after,
            "running": self.running.to_state() if self.running else None,
            "observed": self.observed,
            "newest": _jsonable(self.newest),
            "finished": self.finished,
        }

    @classmethod
    def from_state(cls, saved: Mapping[str, Any]) -> IncrementalCheckpoint:
        return cls(
            run_id=str(saved.get("run_id", "")),
            lower=_restore(saved.get("lower")),
            cap=_restore(saved.get("cap")),
            resume_after=saved.get("resume_after"),
            running=RunningQuery.from_state(saved.get("running")),
            observed=saved.get("observed"),
            newest=_restore(saved.get("newest")),
            finished=bool(saved.get("finished", False)),
        )


def full_refresh_checkpoint(saved: Mapping[str, Any] | None) -> FullRefreshCheckpoint | None:
    """The stored checkpoint when it belongs to a full refresh, else None."""
    return FullRefreshCheckpoint.from_state(saved) if saved and saved.get("mode") == FULL else None


def incremental_checkpoint(saved: Mapping[str, Any] | None) -> IncrementalCheckpoint | None:
    """The stored checkpoint when it belongs to an incremental run, else None."""
    return IncrementalCheckpoint.from_state(saved) if saved and saved.get("mode") == INCREMENTAL else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return {"iso": value.isoformat(), "kind": type(value).__name__}
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict) and "iso" in value:
        if value["kind"] == "date":
            return date.fromisoformat(value["iso"])
        return datetime.fromisoformat(value["iso"])
    return value
