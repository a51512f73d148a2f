"""The tasks of one table's run in the state machine. Each is one invocation of the replication
function; they share the run through its lease and its plan (map_state.MapPlan) in the state.

Consistency (docs/ARCHITECTURE.md): no task can hold a PostgreSQL snapshot across invocations, so
each slice reads its block range in its own snapshot. A run with more than one slice is followed,
in `load`, by an incremental catch-up in one snapshot from the watermark the plan's snapshot
reached, and the rows are deduplicated by key, newest incremental value first (MERGE, or the
INSERT OVERWRITE of a full refresh). A table that cannot meet the catch-up's conditions (a key, a
timestamp or date incremental column without NULLs, no transform hook) is read as one slice, in
one snapshot, as a direct run would read it."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aurora_batch.config.events import FailureCause, SliceResult, SliceSpec
from aurora_batch.errors import AuroraBatchError, ConfigError, LeaseLostError, LockHeldError, SourceSchemaError
from aurora_batch.logic import load as sql
from aurora_batch.logic.extract import ExtractPlan
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.orchestration.manifests import (
    CATCH_UP,
    claimed_parts,
    manifest_path,
    slice_manifest,
    slice_path,
    write_manifest,
)
from aurora_batch.logic.orchestration.map_state import MapPlan, map_plan
from aurora_batch.logic.replicate.incremental import IncrementalRun
from aurora_batch.logic.replicate.plan import TablePlan, staged_name
from aurora_batch.logic.replicate.slices import WHOLE_TABLE, BlockRange, block_ranges
from aurora_batch.model import Mode, RunStatus, StagedPart, quote_sf, staged_key
from aurora_batch.ports import Lease, Snapshot, TableState
from aurora_batch.watermark import Watermark, WatermarkType, as_watermark_value, at_most, lower_bound

# The catch-up can close the gap between the slices' snapshots only through a column that every
# insert and update sets to the time of its transaction.
_CATCH_UP_TYPES = (WatermarkType.TIMESTAMP, WatermarkType.TIMESTAMPTZ, WatermarkType.DATE)
_REPORT_COUNTS = ("rows_extracted", "rows_staged", "rows_loaded", "rows_merged", "rows_inserted", "rows_updated")


class MapRun(IncrementalRun):
    """One task (plan, extract_slice, load, commit or release) of a table's state-machine run."""

    def __init__(self, *args: Any, run_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if run_id is not None:
            self.report.run_id = run_id
        self._part_path: str | None = None  # the slice or catch-up being staged

    # --- shared -------------------------------------------------------------------------------

    def _run_path(self, plan: TablePlan) -> str:
        base = f"{plan.source.ref.qualified}/{self.report.run_id}"
        return f"{base}/{self._part_path}" if self._part_path else base

    def run_prefix(self) -> str:
        """The run's staging path under STAGING_PREFIX (every slice stages below it)."""
        return f"{self.options.ref.qualified}/{self.report.run_id}"

    def _block_ranges(self, *args: Any) -> list[BlockRange]:
        """The Map's slices are the run's parallelism: a task reads its range with one stream."""
        return list(WHOLE_TABLE)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _held(self, run_id: str) -> tuple[TableState, MapPlan]:
        """The table's state and the run's plan, once the lease is shown to be this run's (renewed)."""
        state = self.services.state.get(self.table)
        planned = map_plan(state.checkpoint)
        if (
            planned is None
            or planned.run_id != run_id
            or state.lease_owner != run_id
            or state.lease_token is None
            or state.lease_expires_at is None
            or not state.lease_live(self.clock())
        ):
            raise LeaseLostError("the run no longer holds the table's lease", table=self.table, run_id=run_id)
        lease = Lease(state.table, run_id, state.lease_token, state.lease_expires_at)
        self._lease = self.services.state.renew_lease(lease, self.settings.lease_seconds)
        self._lease_renewed_at = self.clock()
        self.report.mode = Mode.FULL.value if planned.strategy == Mode.FULL.value else Mode.INCREMENTAL.value
        return state, planned

    def _replan(self, snapshot: Snapshot, planned: MapPlan) -> TablePlan:
        plan = self._plan(snapshot, Mode(planned.strategy))
        if tuple(c.staged_name for c in plan.columns) != planned.columns:
            raise SourceSchemaError(
                f"{self.table} changed its columns while the run was in progress; the next run starts over",
                table=self.table,
                run_id=self.report.run_id,
            )
        return plan

    def _stage_into(
        self, snapshot: Snapshot, plan: TablePlan, path: str, predicates: list[str]
    ) -> tuple[list[StagedPart], StreamObserver]:
        """Stage the rows the predicates select under the run's `path`, after any earlier try's files."""
        self._part_path = path
        try:
            self._discard_staged(self._run_path(plan))
            observer = self._observer(plan)
            extract: ExtractPlan = self._extract_plan(plan, predicates, ())
            parts, _ = self._stage(snapshot, plan, extract, observer, 0)
        finally:
            self._part_path = None
        return parts, observer

    def _discard_staged(self, path: str) -> None:
        listed = self.services.staging.list_objects(staged_key(self.settings.staging_prefix, f"{path}/"))
        keys = [o.key for o in listed]
        if keys:
            self.services.staging.delete_keys(keys)

    # --- plan ---------------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        """Take the lease, decide the run in one snapshot, store the plan under the lease."""
        answer: dict[str, Any] = {
            "status": "planned",
            "run_id": self.report.run_id,
            "table": {"schema_name": self.options.schema_name, "table_name": self.options.table_name},
            "run_prefix": self.run_prefix(),
            "slices": [],
        }
        try:
            self._lease = self.services.state.acquire_lease(self.table, self.report.run_id, self.settings.lease_seconds)
        except LockHeldError as exc:
            return {**answer, "status": RunStatus.LOCKED.value, "error": exc.to_dict()}
        try:
            state = self.services.state.get(self.table)
            if state.checkpoint and map_plan(state.checkpoint) is None:
                raise ConfigError(
                    f"{self.table} has a run continued by direct invocations; it finishes before a planned run",
                    table=self.table,
                )
            planned = self._decide(state)
            self.services.state.save_checkpoint(self._lease, planned.to_state())
        except BaseException:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.release_lease(self._lease)
            raise
        answer["slices"] = [
            {"index": index, "first_block": first, "end_block": end}
            for index, (first, end) in enumerate(planned.slices)
        ]
        return answer

    def _decide(self, state: TableState) -> MapPlan:
        full = self.options.full_refresh or state.full_reload_requested or self.options.mode is Mode.FULL
        mode = Mode.FULL if full else Mode.INCREMENTAL
        self.report.mode = mode.value
        upper = cap = lower = None
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, mode)
            kind = plan.watermark_type
            if mode is Mode.INCREMENTAL:
                assert kind is not None
                if state.watermark is not None and state.watermark.type is not kind:
                    raise ConfigError(
                        f"the stored watermark is a {state.watermark.type.value} but {self.options.incremental_column} "
                        f"is now a {kind.value}: reset the watermark",
                        table=self.table,
                        column=self.options.incremental_column,
                    )
                lower = self._lower_bound(state, plan)
            if kind is not None:
                upper, cap = self._bounds(snapshot, plan)
            ranges = list(WHOLE_TABLE)
            if self._may_slice(plan):
                blocks, size = snapshot.table_blocks(plan.source.ref)
                ranges = block_ranges(blocks, size, self.settings.map_slices, self.settings.extract_slice_min_bytes)
        reached = at_most(upper, cap)
        catch_up_from = None
        if len(ranges) > 1 and kind is not None and reached is not None:
            catch_up_from = lower_bound(
                as_watermark_value(reached, kind),
                kind,
                lookback_seconds=self.options.lookback_seconds,
                lookback_integer=self.options.lookback_integer,
            )
        return MapPlan(
            run_id=self.report.run_id,
            strategy=mode.value,
            slices=tuple(ranges),
            columns=tuple(c.staged_name for c in plan.columns),
            lower=lower,
            catch_up_from=catch_up_from,
            watermark_type=kind.value if kind else None,
            started_at=datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            watermark_before=state.watermark.value if state.watermark else None,
            newest=reached,
        )

    def _may_slice(self, plan: TablePlan) -> bool:
        """More than one slice only where the catch-up closes the gap between their snapshots."""
        return (
            self.settings.map_slices > 1
            and bool(plan.keys)
            and plan.watermark_type in _CATCH_UP_TYPES
            and self.report.null_watermark_rows == 0
            and plan.pipeline.hook is None
        )

    # --- extract_slice ------------------------------------------------------------------------

    def extract_slice(self, spec: SliceSpec, run_prefix: str) -> dict[str, Any]:
        """Stage the planned slice `spec` in its own snapshot and write its manifest (its parts and
        observations); return the manifest's key and counts, a fixed size for the Map's state."""
        _, planned = self._held(self.report.run_id)
        if run_prefix != self.run_prefix():
            raise ConfigError("run_prefix is not the run's", field="run_prefix", table=self.table)
        if spec.index >= len(planned.slices) or planned.slices[spec.index] != (spec.first_block, spec.end_block):
            raise ConfigError(f"slice {spec.index} is not a slice of the run's plan", field="slice", table=self.table)
        with self.services.source.snapshot() as snapshot:
            plan = self._replan(snapshot, planned)
            predicates: list[str] = []
            if planned.strategy == Mode.INCREMENTAL.value:
                assert plan.watermark_column is not None
                predicates.extend(snapshot.incremental_predicates(plan.watermark_column.source.name, planned.lower))
            predicates.append(snapshot.block_range_predicate(spec.first_block, spec.end_block))
            parts, observer = self._stage_into(snapshot, plan, slice_path(spec.index), predicates)
        manifest = slice_manifest(spec.index, parts, observer.to_checkpoint())
        # A retried slice writes the same key: its manifest replaces the earlier try's.
        key = staged_key(self.settings.staging_prefix, f"{self.run_prefix()}/{manifest_path(spec.index)}")
        write_manifest(self.services.staging, key, manifest)
        return {"slice": spec.index, "manifest": key, "parts": len(parts), "rows": sum(p.rows for p in parts)}

    # --- load ---------------------------------------------------------------------------------

    def load(self, results: tuple[SliceResult, ...], run_prefix: str) -> dict[str, Any]:
        """The slices' manifests read back, the catch-up (more than one slice), then COPY, validate and
        MERGE or INSERT OVERWRITE once."""
        _, planned = self._held(self.report.run_id)
        if planned.loaded:
            return {"status": "loaded"}  # a retried load: the target has committed already
        if run_prefix != self.run_prefix():
            raise ConfigError("run_prefix is not the run's", field="run_prefix", table=self.table)
        parts, manifests = claimed_parts(
            self.services.staging,
            self.settings.staging_prefix,
            self.run_prefix(),
            len(planned.slices),
            results,
            table=self.table,
        )
        try:
            with self.services.source.snapshot() as snapshot:
                plan = self._replan(snapshot, planned)
                observer = self._observer(plan)
                for manifest in manifests:
                    seen = self._observer(plan)
                    seen.restore(manifest.observed)
                    observer.absorb(seen)
                newest = planned.newest
                if planned.catch_up_from is not None:
                    newest = self._catch_up(snapshot, plan, planned, parts, observer)
            self._record_counts(observer, parts)
            self._load(plan, planned, parts, observer)
        except BaseException:
            self._discard_work_tables()
            raise
        report = {name: getattr(self.report, name) for name in _REPORT_COUNTS}
        report["warnings"] = list(self.report.warnings)
        report["schema_changes"] = list(self.report.schema_changes)
        assert self._lease is not None
        loaded = replace(planned, loaded=True, newest=newest, report=report)
        self.services.state.save_checkpoint(self._lease, loaded.to_state())
        return {"status": "loaded"}

    def _catch_up(
        self, snapshot: Snapshot, plan: TablePlan, planned: MapPlan, parts: list[StagedPart], observer: StreamObserver
    ) -> Any:
        """Read, in one snapshot, every row changed since the plan's snapshot; returns the watermark
        the run reaches (this snapshot's bounds)."""
        assert plan.watermark_column is not None
        column = plan.watermark_column.source.name
        with self._phase("catch_up"):
            caught, seen = self._stage_into(
                snapshot, plan, CATCH_UP, list(snapshot.incremental_predicates(column, planned.catch_up_from))
            )
            upper, cap = self._bounds(snapshot, plan)
        parts.extend(caught)
        observer.absorb(seen)
        return at_most(upper, cap)

    def _load(self, plan: TablePlan, planned: MapPlan, parts: list[StagedPart], observer: StreamObserver) -> None:
        session = self._session_for_run()
        self._prepare_target(plan.target, create=True)
        staging = self._staging_name(plan)
        self._drop_stale_work_tables(plan.target, keep=set())
        self._work_tables = [staging]
        session.execute(sql.create_staging_sql(plan.target, staging))
        self._copy_parts(plan.target, staging, parts)
        self._crashpoint("copy")
        if planned.strategy == Mode.INCREMENTAL.value:
            self._merge_staged(plan, observer, None)
            return
        self._validate(staging, plan, observer, "staging")
        self._check_replaceable(plan.target, "overwrite")
        with self._phase("overwrite"):
            statement = sql.insert_overwrite_sql(plan.target, staging)
            if planned.catch_up_from is not None:
                statement += f" QUALIFY {_newest_per_key(plan)}"
            self._wait_long(self._start_long(statement, "overwrite"), may_stop=False)
            self._crashpoint("commit")
            # SQL from quote_sf identifiers, escaped literals (bandit B608)
            self.report.rows_merged = int(session.execute(f"SELECT COUNT(*) FROM {plan.target.sql}")[0][0])  # noqa: S608  # nosec B608
            session.execute(sql.drop_table_sql(staging))
        self._work_tables = []

    # --- commit and release -------------------------------------------------------------------

    def commit(self) -> dict[str, Any]:
        """Move the watermark (never backwards), clear the plan, delete the staged files, release."""
        state, planned = self._held(self.report.run_id)
        if not planned.loaded:
            raise ConfigError("commit before the run was loaded", field="action", table=self.table)
        assert self._lease is not None
        self._restore_report(planned)
        self.report.watermark_after = self.report.watermark_before
        if planned.newest is not None and planned.watermark_type is not None:
            kind = WatermarkType(planned.watermark_type)
            candidate = Watermark.of(as_watermark_value(planned.newest, kind), kind)
            if state.watermark is None or candidate > state.watermark:
                with self._phase("commit"):
                    self.services.state.advance_watermark(self._lease, candidate, self.options.incremental_column or "")
                self.report.watermark_after = candidate.value
        self.services.state.save_checkpoint(self._lease, None)
        if planned.strategy == Mode.FULL.value and state.full_reload_requested:
            self.services.state.clear_full_reload_request(self._lease)
        self._cleanup(self.run_prefix())
        self.report.status = RunStatus.SUCCEEDED.value
        self._finish()
        return self.report.to_dict()

    def release(self, cause: FailureCause) -> dict[str, Any]:
        """After a failed task: record the failure and release the lease if the run still holds it.
        The staged files stay for the cleanup; the next run starts over."""
        state = self.services.state.get(self.table)
        planned = map_plan(state.checkpoint)
        if planned is not None and planned.run_id == self.report.run_id:
            self._restore_report(planned)
        self.report.status = RunStatus.FAILED.value
        self.report.error = _failure(cause)
        if state.lease_owner == self.report.run_id and state.lease_token and state.lease_expires_at:
            self._lease = Lease(state.table, self.report.run_id, state.lease_token, state.lease_expires_at)
            with contextlib.suppress(AuroraBatchError):
                if planned is not None and planned.run_id == self.report.run_id:
                    self.services.state.save_checkpoint(self._lease, None)
        self._finish()
        return {"status": "released", "table": self.table, "run_id": self.report.run_id}

    def _restore_report(self, planned: MapPlan) -> None:
        self.report.mode = planned.strategy
        self.report.started_at = planned.started_at or ""
        self.report.watermark_before = planned.watermark_before
        self.report.extract_streams = len(planned.slices)
        for name in _REPORT_COUNTS:
            setattr(self.report, name, int(planned.report.get(name, 0)))
        self.report.warnings = list(planned.report.get("warnings", []))
        self.report.schema_changes = list(planned.report.get("schema_changes", []))

    def _finish(self) -> None:
        finished = self.clock()
        self.report.finished_at = datetime.fromtimestamp(finished, UTC).isoformat()
        if self.report.started_at:
            started = datetime.fromisoformat(self.report.started_at).timestamp()
            self.report.duration_seconds = round(finished - started, 3)
        with contextlib.suppress(AuroraBatchError):
            self.services.state.record_run(self.table, self.report.to_dict())
        if self._lease is not None:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.release_lease(self._lease)
            self._lease = None


def _newest_per_key(plan: TablePlan) -> str:
    """One row per key, the newest incremental value first (a row a slice and the catch-up both read)."""
    assert plan.watermark_column is not None
    partition = ", ".join(quote_sf(staged_name(plan, key)) for key in plan.keys)
    order = quote_sf(plan.watermark_column.staged_name)
    return f"ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {order} DESC NULLS LAST) = 1"


def _failure(cause: FailureCause) -> dict[str, Any]:
    """The error a Catch passed on: the function's error type and message, never its stack trace."""
    message = cause.Cause
    with contextlib.suppress(ValueError):
        parsed = json.loads(cause.Cause)
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage", ""))
    return {"error": cause.Error or "TaskFailed", "message": message[:2000], "retryable": False}
