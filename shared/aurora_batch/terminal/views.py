"""What each command shows an operator: its JSON-safe result laid out as tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aurora_batch.logic.status import TableStatus
from aurora_batch.terminal.tables import ATTENTION_MARK, Column, TableView


def duration(seconds: float | None) -> str:
    """`42s`, `5m 03s`, `2h 04m`, `3d 01h`."""
    if seconds is None:
        return "-"
    value = int(abs(seconds))
    sign = "-" if seconds < 0 else ""
    if value < 60:
        return f"{sign}{value}s"
    if value < 3600:
        return f"{sign}{value // 60}m {value % 60:02d}s"
    if value < 86400:
        return f"{sign}{value // 3600}h {value % 3600 // 60:02d}m"
    return f"{sign}{value // 86400}d {value % 86400 // 3600:02d}h"


def moment(text: Any, now: datetime | None = None) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM:SSZ`, with how long ago (or until) when `now` is given."""
    if not isinstance(text, str) or not text:
        return "-"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    shown = parsed.strftime("%Y-%m-%d %H:%M:%SZ")
    if now is None:
        return shown
    delta = (now - parsed).total_seconds()
    return f"{shown} ({duration(delta)} ago)" if delta >= 0 else f"{shown} (in {duration(-delta)})"


def summary_view(reports: Sequence[Mapping[str, Any]]) -> TableView:
    """The replicate summary: one line per table (and per invocation of a continued run)."""
    view = TableView(
        [
            Column("table"),
            Column("status"),
            Column("rows", right=True),
            Column("MB staged", right=True),
            Column("seconds", right=True),
            Column("rows/s", right=True),
        ]
    )
    for report in reports:
        seconds = float(report.get("duration_seconds") or 0)
        rows = int(report.get("rows_loaded") or 0)
        rate = rows / seconds if seconds > 0 else 0.0
        status = str(report["status"])
        view.add(
            [
                report["table"],
                status,
                f"{rows:,}",
                f"{int(report.get('bytes_staged') or 0) / 1e6:.1f}",
                f"{seconds:.2f}",
                f"{rate:,.0f}",
            ],
            [status] if status in ("failed", "locked") else [],
        )
    return view


def status_view(statuses: Sequence[TableStatus], now: datetime) -> TableView:
    view = TableView(
        [
            Column(ATTENTION_MARK),
            Column("table"),
            Column("mode"),
            Column("last run"),
            Column("finished"),
            Column("rows", right=True),
            Column("took", right=True),
            Column("watermark"),
            Column("lag", right=True),
            Column("lease"),
            Column("next run"),
            Column("drift"),
            Column("attention"),
        ]
    )
    for status in statuses:
        view.add(
            [
                ATTENTION_MARK if status.attention else " ",
                status.table,
                status.mode,
                status.last_status or "never",
                _ago(status.last_run_at, now),
                None if status.rows is None else f"{status.rows:,}",
                None if status.duration_seconds is None else f"{status.duration_seconds:.1f}s",
                status.watermark,
                duration(status.lag_seconds) if status.lag_seconds is not None else None,
                "held" if status.lease_held else None,
                _until(status.next_run_at, now) if status.schedule else None,
                status.verify_drift,
                ", ".join(status.attention),
            ],
            status.attention,
        )
    return view


def watermark_list_view(result: Mapping[str, Any], now: datetime) -> TableView:
    view = TableView(
        [
            Column("table"),
            Column("watermark"),
            Column("type"),
            Column("column"),
            Column("lease"),
            Column("last run"),
            Column("finished"),
            Column("pending"),
        ]
    )
    for state in result.get("tables", []):
        last = state.get("last_run") or {}
        lease = "held" if state.get("lease_live") else ("expired" if state.get("lease_owner") else None)
        view.add(
            [
                state["table"],
                state.get("watermark"),
                state.get("watermark_type"),
                state.get("watermark_column"),
                lease,
                last.get("status"),
                _ago(last.get("finished_at"), now),
                _pending(state),
            ],
            ["locked"] if state.get("lease_live") else (["failed"] if last.get("status") == "failed" else []),
        )
    return view


def watermark_get_views(result: Mapping[str, Any], now: datetime) -> list[TableView]:
    state = result.get("state") or {}
    last = state.get("last_run") or {}
    summary = _fields_view(
        f"{result.get('table')}",
        {
            "watermark": state.get("watermark"),
            "type": state.get("watermark_type"),
            "column": state.get("watermark_column"),
            "version": state.get("version"),
            "lease": _lease(state, now),
            "pending": _pending(state),
            "last run": f"{last.get('status')} {last.get('run_id')}" if last else None,
            "last run finished": _ago(last.get("finished_at"), now) if last else None,
        },
    )
    runs = TableView(
        [
            Column("run"),
            Column("status"),
            Column("mode"),
            Column("started"),
            Column("seconds", right=True),
            Column("rows", right=True),
            Column("watermark after"),
            Column("error"),
        ],
        title="recent runs",
    )
    for run in result.get("runs", []):
        error = run.get("error") or {}
        status = str(run.get("status"))
        runs.add(
            [
                run.get("run_id"),
                status,
                run.get("mode"),
                moment(run.get("started_at")),
                f"{float(run.get('duration_seconds') or 0):.2f}",
                f"{int(run.get('rows_loaded') or 0):,}",
                run.get("watermark_after"),
                error.get("error"),
            ],
            [status] if status in ("failed", "locked") else [],
        )
    audit = TableView(
        [Column("at"), Column("actor"), Column("action"), Column("reason"), Column("change")], title="changes"
    )
    for record in result.get("audit", []):
        audit.add(
            [
                moment(record.get("at")),
                record.get("actor"),
                record.get("action"),
                record.get("reason"),
                _changes(record.get("old") or {}, record.get("new") or {}),
            ]
        )
    return [summary, runs, audit]


def change_view(result: Mapping[str, Any]) -> TableView:
    """What set, reset or unlock changed (or, in a dry run, would change)."""
    title = f"{result.get('action')} {result.get('table')}" + (
        " (dry run: nothing changed)" if result.get("dry_run") else ""
    )
    return _fields_view(
        title,
        {
            "change": _changes(result.get("old") or {}, result.get("new") or {}) or "none",
            "actor": result.get("actor"),
            "reason": result.get("reason"),
            "at": moment(result.get("at")),
            "audit id": result.get("audit_id"),
        },
    )


def cleanup_view(result: Mapping[str, Any]) -> TableView:
    scalars = {name: value for name, value in result.items() if not isinstance(value, Mapping | list)}
    title = "cleanup (dry run: nothing deleted)" if result.get("dry_run") else "cleanup"
    return _fields_view(title, {name.replace("_", " "): value for name, value in scalars.items()})


def _fields_view(title: str, fields: Mapping[str, Any]) -> TableView:
    view = TableView([Column("field"), Column("value")], title=title)
    for name, value in fields.items():
        view.add([name, value])
    return view


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    return "; ".join(f"{name}: {old.get(name, '-')} -> {new.get(name, '-')}" for name in sorted({*old, *new}))


def _lease(state: Mapping[str, Any], now: datetime) -> str | None:
    owner = state.get("lease_owner")
    if not owner:
        return None
    expires = state.get("lease_expires_at")
    until = datetime.fromtimestamp(float(expires), UTC).isoformat() if expires is not None else None
    return f"{'held' if state.get('lease_live') else 'expired'} by {owner} until {moment(until, now)}"


def _pending(state: Mapping[str, Any]) -> str | None:
    pending = []
    if state.get("checkpoint_run_id"):
        pending.append(f"continue {state['checkpoint_run_id']}")
    if state.get("full_reload_requested"):
        pending.append("full reload")
    return ", ".join(pending) or None


def _ago(text: Any, now: datetime) -> str:
    if not isinstance(text, str) or not text:
        return "-"
    parsed = datetime.fromisoformat(text)
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return f"{duration((now - parsed).total_seconds())} ago"


def _until(text: str | None, now: datetime) -> str:
    if not text:
        return "unknown"
    parsed = datetime.fromisoformat(text)
    return f"{moment(text)} (in {duration((parsed - now).total_seconds())})"
