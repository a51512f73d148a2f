"""The incremental strategy (see docs/ARCHITECTURE.md):
- lower bound: the stored watermark minus the lookback (or the event's last_value);
- upper bound: max(column) read inside the extract snapshot, capped at the start of the
  oldest transaction still open, so a late commit with an older value is read next time;
- the watermark moves only after the target commit (MERGE) has succeeded, and never
  backwards. Any overlap is harmless: the MERGE deduplicates on the key;
- a COPY or MERGE still running when the time budget runs low is checkpointed by its query id;
  the next invocation waits for it, then finishes the load and moves the watermark.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aurora_batch.config import parse_watermark_literal
from aurora_batch.errors import ConfigError
from aurora_batch.logic import load as sql
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.checkpoint import IncrementalCheckpoint, RunningQuery, incremental_checkpoint
from aurora_batch.logic.replicate.plan import ExtractWindow, TablePlan, staged_name
from aurora_batch.logic.replicate.source_steps import SourceSteps
from aurora_batch.logic.replicate.target_steps import TargetSteps
from aurora_batch.logic.verify.drift import report_key_counts, source_key_count
from aurora_batch.model import Mode, StagedPart
from aurora_batch.ports import TableState
from aurora_batch.watermark import as_watermark_value, at_most, lower_bound


class IncrementalRun(SourceSteps, TargetSteps):
    _source_keys: int | None = None  # the drift signal's source count, read in the finished run's snapshot

    def _incremental(self, state: TableState) -> None:
        saved = incremental_checkpoint(state.checkpoint)
        if saved is not None and saved.running is not None:
            self._finish_running_load(state, saved)
            return
        window = self._incremental_extract(state, saved)
        plan, parts, observer = window.plan, window.parts, window.observer
        self._record_counts(observer, parts)
        self._crashpoint("upload")
        self._prepare_target(plan.target, create=True)
        newest = window.upper if window.finished else observer.last_watermark_value
        if parts:
            running = self._merge_parts(plan, parts, observer)
            if running is not None:
                self._save_checkpoint(
                    IncrementalCheckpoint(
                        run_id=self.report.run_id,
                        lower=window.lower,
                        cap=window.cap,
                        resume_after=observer.last_key,
                        running=running,
                        observed=observer.to_checkpoint(),
                        newest=at_most(newest, window.cap),
                        finished=window.finished,
                    )
                )
                self._work_tables = []  # the staging table carries over to the next invocation
                self._conclude(finished=False)
                return
        # The target has committed: now, and only now, the watermark may move.
        self._advance_watermark(state, plan, at_most(newest, window.cap))
        if window.finished:
            if saved is not None:
                self._save_checkpoint(None)
            report_key_counts(self.report, self._session_for_run(), plan, self._source_keys)
        else:
            self._save_checkpoint(
                IncrementalCheckpoint(
                    run_id=self.report.run_id, lower=window.lower, cap=window.cap, resume_after=observer.last_key
                )
            )
        self._cleanup(self._run_path(plan))
        self._conclude(window.finished)

    def _incremental_extract(self, state: TableState, saved: IncrementalCheckpoint | None) -> ExtractWindow:
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, Mode.INCREMENTAL)
            assert plan.watermark_column is not None and plan.watermark_type is not None
            if state.watermark is not None and state.watermark.type is not plan.watermark_type:
                raise ConfigError(
                    f"the stored watermark is a {state.watermark.type.value} but {self.options.incremental_column} "
                    f"is now a {plan.watermark_type.value}: reset the watermark",
                    table=self.table,
                    column=self.options.incremental_column,
                )
            # A continued run keeps its lower bound and resumes after the last row staged.
            lower = saved.lower if saved is not None else self._lower_bound(state, plan)
            upper, cap = self._bounds(snapshot, plan)
            if saved is not None:
                # Never let the watermark pass a transaction open in any invocation of this run.
                cap = at_most(cap, saved.cap) if cap is not None else saved.cap
            column = plan.watermark_column.source.name
            predicates = list(snapshot.incremental_predicates(column, lower))
            order_by = (column, *[k for k in plan.keys if k != column])
            if saved is not None and saved.resume_after:
                position = [plan.source.column(name) for name in order_by]
                predicates.append(snapshot.after_position_predicate(position, saved.resume_after))
            observer = self._observer(plan, position=order_by)
            self._prepare_target(plan.target, create=False)  # an incompatible change fails before extracting
            parts, finished = self._stage(snapshot, plan, self._extract_plan(plan, predicates, order_by), observer, 0)
            if finished and saved is None:  # a continued run's invocations read different snapshots
                self._source_keys = source_key_count(self.services.digests, snapshot, plan, self.options, upper)
        return ExtractWindow(plan, parts, observer, finished, lower, upper, cap)

    def _lower_bound(self, state: TableState, plan: TablePlan) -> Any:
        assert plan.watermark_type is not None
        if self.options.last_value is not None:
            try:
                return as_watermark_value(parse_watermark_literal(self.options.last_value), plan.watermark_type)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"last_value {self.options.last_value!r} cannot be read as a {plan.watermark_type.value}",
                    field="last_value",
                    table=self.table,
                    column=self.options.incremental_column,
                ) from exc
        if state.watermark is None:
            return None
        return lower_bound(
            state.watermark.parsed,
            plan.watermark_type,
            lookback_seconds=self.options.lookback_seconds,
            lookback_integer=self.options.lookback_integer,
        )

    def _merge_parts(self, plan: TablePlan, parts: list[StagedPart], observer: StreamObserver) -> RunningQuery | None:
        """COPY the parts into a staging table and MERGE it. Returns the COPY or MERGE still running
        when the time ran low, else None (merged)."""
        staging = self._staging_name(plan)
        self._work_tables = [staging]
        session = self._session_for_run()
        self._drop_stale_work_tables(plan.target, keep=set())
        session.execute(sql.create_staging_sql(plan.target, staging))
        copying = self._copy_parts(plan.target, staging, parts)
        if copying is not None:
            return copying
        self._crashpoint("copy")
        return self._merge_staged(plan, observer, None)

    def _merge_staged(
        self, plan: TablePlan, observer: StreamObserver, resumed: RunningQuery | None
    ) -> RunningQuery | None:
        assert plan.watermark_column is not None
        staging = self._staging_name(plan)
        if resumed is None:
            self._validate(staging, plan, observer, "staging")
        with self._phase("merge"):
            keys = [staged_name(plan, k) for k in plan.keys]
            merge = sql.merge_sql(plan.target, staging, keys, plan.watermark_column.staged_name)
            running = resumed or self._start_long(merge, "merge")
            outcome = self._wait_long(running)
            if outcome is None:
                return running
            inserted, updated = _merge_counts(*outcome)
        self.report.rows_inserted, self.report.rows_updated = inserted, updated
        self.report.rows_merged = inserted + updated
        self._crashpoint("commit")
        self._session_for_run().execute(sql.drop_table_sql(staging))
        self._work_tables = []
        return None

    def _finish_running_load(self, state: TableState, saved: IncrementalCheckpoint) -> None:
        """The previous invocation's COPY or MERGE was still running: wait for it by its query id,
        finish the load, then move the watermark as that invocation would have."""
        assert saved.running is not None
        self.report.run_id = saved.run_id  # the staging table and staged files are that run's
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, Mode.INCREMENTAL)
        assert plan.watermark_column is not None
        column = plan.watermark_column.source.name
        observer = self._observer(plan, position=(column, *[k for k in plan.keys if k != column]))
        observer.restore(saved.observed or {})
        self._work_tables = [self._staging_name(plan)]
        running: RunningQuery | None = saved.running
        if running is not None and running.statement == "copy":
            running = None if self._finish_copy(running) else running
            if running is None:
                running = self._merge_staged(plan, observer, None)
        elif running is not None:
            running = self._merge_staged(plan, observer, running)
        if running is not None:
            self._save_checkpoint(replace(saved, running=running))
            self._work_tables = []
            self._conclude(finished=False)
            return
        self._advance_watermark(state, plan, saved.newest)
        if saved.finished:
            self._save_checkpoint(None)
        else:
            self._save_checkpoint(IncrementalCheckpoint(saved.run_id, saved.lower, saved.cap, saved.resume_after))
        self._cleanup(self._run_path(plan))
        self._conclude(saved.finished)


def _merge_counts(names: list[str], rows: list[tuple[Any, ...]]) -> tuple[int, int]:
    if not rows:
        return 0, 0
    values = dict(zip(names, rows[0], strict=False))
    inserted = int(values.get("number of rows inserted", rows[0][0]) or 0)
    updated = int(values.get("number of rows updated", rows[0][1] if len(rows[0]) > 1 else 0) or 0)
    return inserted, updated
