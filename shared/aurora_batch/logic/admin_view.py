"""How the admin function shows a table's state and a change to it: JSON-safe values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aurora_batch.ports import TableState


def admin_view(state: TableState) -> dict[str, Any]:
    """The fields an operator changes, as JSON-safe values (checkpoint reduced to its run_id)."""
    checkpoint_run: str | None = None
    if state.checkpoint is not None:
        checkpoint_run = str(state.checkpoint.get("run_id", ""))
    return {
        "watermark": state.watermark.value if state.watermark else None,
        "watermark_type": state.watermark.type.value if state.watermark else None,
        "watermark_column": state.watermark_column,
        "lease_owner": state.lease_owner,
        "lease_expires_at": state.lease_expires_at,
        "checkpoint_run_id": checkpoint_run,
        "full_reload_requested": state.full_reload_requested,
    }


def state_changes(before: TableState, after: TableState) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new): the admin-visible fields that differ, with their values before and after."""
    old_view, new_view = admin_view(before), admin_view(after)
    changed = [name for name in old_view if old_view[name] != new_view[name]]
    return {name: old_view[name] for name in changed}, {name: new_view[name] for name in changed}


def describe_state(state: TableState, now: datetime) -> dict[str, Any]:
    """A table's state for an operator, JSON-safe."""
    return {
        "table": state.table,
        "version": state.version,
        **admin_view(state),
        "lease_live": state.lease_live(now.timestamp()),
        "last_run": state.last_run,
    }
