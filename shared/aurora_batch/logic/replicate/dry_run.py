"""Checks made before a run changes anything, and the dry run that stops after them.

`refuse_forward_last_value`: an event's `last_value` is a backfill, so it may only lower the
bound below the stored watermark; moving a watermark forward is the admin function's `set`.
`ReplicationDryRun`: the plan of a run (target DDL or evolution statements, bounds, a row
estimate) read from the source, the target's catalog and the state, without a lease or a write.
"""

from __future__ import annotations

from typing import Any

from aurora_batch.config import TableOptions, parse_watermark_literal
from aurora_batch.errors import AuroraBatchError, ConfigError
from aurora_batch.logic import load as sql
from aurora_batch.logic.replicate.checkpoint import full_refresh_checkpoint, incremental_checkpoint
from aurora_batch.logic.replicate.full_refresh import FullRefreshRun
from aurora_batch.logic.replicate.incremental import IncrementalRun
from aurora_batch.model import Mode
from aurora_batch.ports import TableState
from aurora_batch.watermark import Watermark, as_watermark_value

PLANNED = "planned"


def refuse_forward_last_value(options: TableOptions, state: TableState) -> None:
    """Raise ConfigError when `last_value` lies above the stored watermark (compared as its type)."""
    if options.last_value is None or state.watermark is None:
        return
    stored = state.watermark
    try:
        requested = Watermark.of(
            as_watermark_value(parse_watermark_literal(options.last_value), stored.type), stored.type
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"last_value {options.last_value!r} cannot be read as a {stored.type.value}, the stored watermark's type",
            field="last_value",
            table=options.ref.qualified,
        ) from exc
    if requested > stored:
        raise ConfigError(
            f"last_value {options.last_value!r} is above the stored watermark {stored.value!r}: an event may only "
            "lower the bound (a backfill); move a watermark forward with the admin function's set, "
            "which records a reason and an audit entry",
            field="last_value",
            table=options.ref.qualified,
        )


class ReplicationDryRun(IncrementalRun, FullRefreshRun):
    """What a run would do. Reads only: no lease, no staged file, no Snowflake DDL or DML, no
    watermark or state write (the target's columns are read through INFORMATION_SCHEMA)."""

    def plan(self) -> dict[str, Any]:
        try:
            state = self.services.state.get(self.table)
            refuse_forward_last_value(self.options, state)
            return {**self._planned(state), "status": PLANNED, "dry_run": True}
        except AuroraBatchError as exc:
            self.report.error = exc.to_dict()
            return {**self.report.to_dict(), "dry_run": True}
        finally:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _planned(self, state: TableState) -> dict[str, Any]:
        checkpoint = full_refresh_checkpoint(state.checkpoint)
        mode = self.options.mode
        if self.options.full_refresh or state.full_reload_requested or checkpoint is not None:
            mode = Mode.FULL
        self.report.mode = mode.value
        bounds: dict[str, Any] = {}
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, mode)
            predicates: list[str] = []
            if plan.watermark_column is not None:
                upper, cap = self._bounds(snapshot, plan)
                bounds = {"column": plan.watermark_column.source.name, "upper": upper, "cap": cap}
            if mode is Mode.INCREMENTAL and plan.watermark_column is not None:
                saved = incremental_checkpoint(state.checkpoint)
                lower = saved.lower if saved is not None else self._lower_bound(state, plan)
                bounds["lower"] = lower
                predicates = list(snapshot.incremental_predicates(plan.watermark_column.source.name, lower))
            extract = self._extract_plan(plan, predicates, ())
            estimated_rows = snapshot.estimate_rows(plan.source.ref, extract.predicates)
        existing = self._existing_columns(plan.target)
        statements = (
            [sql.create_table_sql(plan.target)] if existing is None else sql.evolution_statements(plan.target, existing)
        )
        return {
            "table": self.table,
            "mode": mode.value,
            "target": self.report.target,
            "target_statements": statements,
            "bounds": {key: _shown(value) for key, value in bounds.items()},
            "watermark": state.watermark.value if state.watermark else None,
            "estimated_rows": estimated_rows,
            "resumes_run": checkpoint.run_id if checkpoint is not None else None,
            "warnings": list(self.report.warnings),
        }


def _shown(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
