"""The plan of a run spread over the state machine's tasks, stored in the table's state (the
checkpoint) under the run's lease. Every task checks its event against it: an event names the run
and the slice, the plan decides what they mean."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aurora_batch.logic.replicate.checkpoint import _jsonable, _restore
from aurora_batch.logic.replicate.slices import BlockRange

MAP = "map"


@dataclass(frozen=True)
class MapPlan:
    """What `plan` decided, read in the plan's snapshot."""

    run_id: str
    strategy: str  # "full" or "incremental"
    slices: tuple[BlockRange, ...]
    columns: tuple[str, ...]  # the staged column names: a slice planned otherwise fails
    lower: Any = None  # the incremental lower bound of the slices (None: a full refresh)
    catch_up_from: Any = None  # the catch-up's lower bound (None: no catch-up)
    watermark_type: str | None = None
    started_at: str | None = None
    watermark_before: Any = None
    # Set by `load` once the target has committed; `commit` moves the watermark to `newest`.
    loaded: bool = False
    newest: Any = None
    report: dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return {
            "mode": MAP,
            "run_id": self.run_id,
            "strategy": self.strategy,
            "slices": [list(bounds) for bounds in self.slices],
            "columns": list(self.columns),
            "lower": _jsonable(self.lower),
            "catch_up_from": _jsonable(self.catch_up_from),
            "watermark_type": self.watermark_type,
            "started_at": self.started_at,
            "watermark_before": self.watermark_before,
            "loaded": self.loaded,
            "newest": _jsonable(self.newest),
            "report": self.report,
        }

    @classmethod
    def from_state(cls, saved: Mapping[str, Any]) -> MapPlan:
        return cls(
            run_id=str(saved["run_id"]),
            strategy=str(saved["strategy"]),
            slices=tuple((_block(first), _block(end)) for first, end in saved["slices"]),
            columns=tuple(saved["columns"]),
            lower=_restore(saved.get("lower")),
            catch_up_from=_restore(saved.get("catch_up_from")),
            watermark_type=saved.get("watermark_type"),
            started_at=saved.get("started_at"),
            watermark_before=saved.get("watermark_before"),
            loaded=bool(saved.get("loaded", False)),
            newest=_restore(saved.get("newest")),
            report=dict(saved.get("report") or {}),
        )


def map_plan(saved: Mapping[str, Any] | None) -> MapPlan | None:
    """The stored checkpoint when it is a state-machine run's plan, else None."""
    return MapPlan.from_state(saved) if saved and saved.get("mode") == MAP else None


def _block(value: Any) -> int | None:
    return None if value is None else int(value)
