"""Every table at a glance: its last run, watermark, lag, lease and next scheduled run, and
whether it needs an operator (late, failed or locked). JSON-safe, for the CLI's `status`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from aurora_batch.logic.schedule import next_run
from aurora_batch.ports import TableState
from aurora_batch.watermark import WatermarkType

DEFAULT_LATE_AFTER_SECONDS = 3600.0


@dataclass(frozen=True)
class TableStatus:
    table: str
    mode: str | None
    last_status: str | None
    last_run_at: str | None  # when the last run finished
    rows: int | None
    duration_seconds: float | None
    watermark: str | None
    lag_seconds: float | None  # now minus a time watermark; None for an integer one or none
    lease_held: bool
    lease_owner: str | None
    schedule: str | None
    next_run_at: str | None
    verify_drift: str | None  # the last verify's finding: none, N rows, N repaired, failed; None: never verified
    late: bool
    failed: bool
    locked: bool
    drift: bool = False  # the last verify left rows that differ

    @property
    def attention(self) -> list[str]:
        """What makes this table stand out, most urgent first."""
        flags = (("failed", self.failed), ("locked", self.locked), ("late", self.late), ("drift", self.drift))
        return [name for name, flagged in flags if flagged]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "attention": self.attention}


def table_status(
    state: TableState,
    now: datetime,
    *,
    mode: str | None = None,
    schedule: str | None = None,
    late_after_seconds: float = DEFAULT_LATE_AFTER_SECONDS,
) -> TableStatus:
    """One table's status. Late: the watermark (or, without a time watermark, the last
    successful run) is older than `late_after_seconds`."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    last = state.last_run or {}
    last_status = last.get("status")
    finished = _moment(last.get("finished_at"))
    lag = _watermark_lag(state, now)
    age = lag
    if age is None and last_status == "succeeded" and finished is not None:
        age = (now - finished).total_seconds()
    started = _moment(last.get("started_at"))
    upcoming = next_run(schedule, now, started) if schedule else None
    locked = state.lease_live(now.timestamp())
    return TableStatus(
        table=state.table,
        mode=mode or last.get("mode"),
        last_status=last_status,
        last_run_at=finished.isoformat() if finished else None,
        rows=int(last["rows_loaded"]) if last.get("rows_loaded") is not None else None,
        duration_seconds=float(last["duration_seconds"]) if last.get("duration_seconds") is not None else None,
        watermark=state.watermark.value if state.watermark else None,
        lag_seconds=None if lag is None else round(lag, 3),
        lease_held=locked,
        lease_owner=state.lease_owner if locked else None,
        schedule=schedule,
        next_run_at=upcoming.isoformat() if upcoming else None,
        verify_drift=verify_drift(state.last_verify),
        drift=(state.last_verify or {}).get("status") == "drift",
        late=age is not None and age > late_after_seconds,
        failed=last_status == "failed",
        locked=locked,
    )


def table_statuses(
    configured: Iterable[tuple[str, str]],
    states: Iterable[TableState],
    now: datetime,
    *,
    schedules: Mapping[str, str] | None = None,
    late_after_seconds: float = DEFAULT_LATE_AFTER_SECONDS,
) -> list[TableStatus]:
    """The configured tables (table, mode) in their order, then any other table the state knows."""
    by_table = {state.table: state for state in states}
    modes = dict(configured)
    names = [*modes, *sorted(set(by_table) - set(modes))]
    return [
        table_status(
            by_table.get(name) or TableState.empty(name),
            now,
            mode=modes.get(name),
            schedule=(schedules or {}).get(name),
            late_after_seconds=late_after_seconds,
        )
        for name in names
    ]


def verify_drift(last_verify: Mapping[str, Any] | None) -> str | None:
    """The last verify in a few words: `none`, `37 rows` (found, not repaired), `37 repaired`, `failed`."""
    if not last_verify:
        return None
    status = last_verify.get("status")
    drift = int(last_verify.get("drift") or 0)
    if status == "exact":
        return "none"
    if status == "repaired":
        return f"{drift:,} repaired"
    if status == "drift":
        remaining = last_verify.get("remaining")
        return f"{drift if remaining is None else int(remaining):,} rows"
    return str(status)


def _watermark_lag(state: TableState, now: datetime) -> float | None:
    watermark = state.watermark
    if watermark is None or watermark.type is WatermarkType.INTEGER:
        return None
    value = watermark.parsed
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        return None
    return (now - moment).total_seconds()


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
