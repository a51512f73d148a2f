"""The full-refresh strategy: extract the whole table into a staging table (over several
invocations when the time budget runs low, resuming in key order), validate it, then replace the
target's rows atomically:
- `overwrite` (the default): one INSERT OVERWRITE from the staging table. The table object stays,
  with its ownership, grants, future grants, streams, Time Travel history, tags and policies;
- `swap`: build a new table LIKE the target (COPY GRANTS), validate it, SWAP WITH, drop the old
  object. Ownership, streams, history, tags and policies do not follow the swap.
Before either, the loader role must own the target and, for `swap`, no stream may read it.
A long statement (COPY, INSERT, INSERT OVERWRITE) still running when the time budget runs low is
checkpointed by its query id; the next invocation waits for it instead of running it again."""

from __future__ import annotations

from dataclasses import replace

from aurora_batch.errors import AuroraBatchError
from aurora_batch.logic import load as sql
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.checkpoint import FullRefreshCheckpoint, RunningQuery
from aurora_batch.logic.replicate.plan import ExtractWindow, TablePlan
from aurora_batch.logic.replicate.report import new_run_id
from aurora_batch.logic.replicate.source_steps import SourceSteps
from aurora_batch.logic.replicate.target_steps import TargetSteps
from aurora_batch.model import Mode, StagedPart
from aurora_batch.ports import TableState
from aurora_batch.watermark import at_most


class FullRefreshRun(SourceSteps, TargetSteps):
    def _full_refresh(self, state: TableState, checkpoint: FullRefreshCheckpoint | None) -> None:
        if checkpoint is not None and checkpoint.running is not None and checkpoint.running.statement == "copy":
            if not self._finish_copy(checkpoint.running):
                self._save_checkpoint(checkpoint)  # still running: the next invocation waits again
                self._conclude(finished=False)
                return
            checkpoint = replace(checkpoint, running=None)
        resumed = checkpoint.running if checkpoint is not None else None
        window, staging, first_index = self._full_extract(checkpoint)
        plan, parts = window.plan, window.parts
        self._crashpoint("upload")
        self._prepare_target(plan.target, create=True)
        self._work_tables = [staging]
        keep = {_name_of(staging)}
        if resumed is not None and resumed.statement == "insert":
            keep.add(_name_of(self._new_table_name(plan)))
        self._drop_stale_work_tables(plan.target, keep=keep)
        self._session_for_run().execute(sql.create_staging_sql(plan.target, staging))
        copying = self._copy_parts(plan.target, staging, parts)
        self._crashpoint("copy")
        next_part = first_index + len(parts)
        if copying is not None or not window.finished:
            self._pause(window, next_part, copying)
            return
        if not self._replace(window, staging, next_part, resumed):
            return
        if checkpoint is not None or state.checkpoint is not None:
            self._save_checkpoint(None)
        if state.full_reload_requested:
            assert self._lease is not None
            self.services.state.clear_full_reload_request(self._lease)
        self._advance_watermark(state, plan, at_most(window.upper, window.cap))
        self._cleanup(self._run_path(plan))
        self._conclude(finished=True)

    def _pause(self, window: ExtractWindow, next_part: int, running: RunningQuery | None) -> None:
        """Checkpoint the refresh and continue in the next invocation; the staging table carries over."""
        self._save_checkpoint(
            FullRefreshCheckpoint(
                run_id=self.report.run_id,
                next_part=next_part,
                resume_after=window.observer.last_key,
                observed=window.observer.to_checkpoint(),
                upper=window.upper,
                cap=window.cap,
                running=running,
                extracted=window.finished,
            )
        )
        self._work_tables = []
        self._conclude(finished=False)

    def _full_extract(self, checkpoint: FullRefreshCheckpoint | None) -> tuple[ExtractWindow, str, int]:
        """Extract (the rest of) the table into parts; returns the window, the staging table and
        the first part number of this invocation."""
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, Mode.FULL)
            observer = self._observer(plan)
            predicates: list[str] = []
            first_index = 0
            if checkpoint is not None and not self._checkpoint_usable(checkpoint, plan):
                # The work table is gone or differs: start this refresh over, safely.
                checkpoint = None
                self.report.run_id = new_run_id()
                self._save_checkpoint(None)
            if checkpoint is not None:
                observer.restore(checkpoint.observed)
                observer.last_key = checkpoint.resume_after
                first_index = checkpoint.next_part
                position = [plan.source.column(name) for name in plan.keys]
                predicates.append(snapshot.after_position_predicate(position, checkpoint.resume_after or []))
                upper, cap = checkpoint.upper, checkpoint.cap
            elif plan.watermark_column is not None:
                upper, cap = self._bounds(snapshot, plan)
            else:
                upper = cap = None
            staging = self._staging_name(plan)
            self._prepare_target(plan.target, create=False)  # an incompatible change fails before extracting
            self._check_replaceable(plan.target, self.options.full_refresh_strategy)
            rows_before = observer.rows
            parts: list[StagedPart]
            if checkpoint is not None and checkpoint.extracted:
                parts, finished = [], True  # every row is staged; only the load is left
            else:
                # Resumable only in key order: ordered when the invocation has a time limit.
                ordered = plan.keys if (self.budget.limited and plan.source.primary_key) else ()
                extract = self._extract_plan(plan, predicates, tuple(ordered))
                parts, finished = self._stage(snapshot, plan, extract, observer, first_index)
        self._record_counts(observer, parts, rows_before=rows_before)
        return ExtractWindow(plan, parts, observer, finished, None, upper, cap), staging, first_index

    def _replace(self, window: ExtractWindow, staging: str, next_part: int, resumed: RunningQuery | None) -> bool:
        """Replace the target's rows with the staging table's, by the table's strategy. False when the
        time ran low while the statement was still running (checkpointed)."""
        plan, observer = window.plan, window.observer
        if resumed is None:
            self._validate(staging, plan, observer, "staging")
        if self.options.full_refresh_strategy == "swap":
            running = self._swap(plan, staging, observer, resumed)
        else:
            running = self._overwrite(plan, staging, observer, resumed)
        if running is not None:
            self._pause(window, next_part, running)
            return False
        return True

    def _overwrite(
        self, plan: TablePlan, staging: str, observer: StreamObserver, resumed: RunningQuery | None
    ) -> RunningQuery | None:
        """INSERT OVERWRITE: truncate and insert in one transaction; the table object stays."""
        with self._phase("overwrite"):
            running = resumed or self._start_long(sql.insert_overwrite_sql(plan.target, staging), "overwrite")
            if self._wait_long(running) is None:
                return running
            self._crashpoint("commit")
        # The staged rows were validated before; checking the committed table too proves the
        # statement moved every one of them (and fails the run loudly, watermark unmoved, if not).
        self._validate(plan.target.sql, plan, observer, "target")
        self.report.rows_merged = observer.rows
        self._session_for_run().execute(sql.drop_table_sql(staging))
        self._work_tables = []
        return None

    def _swap(
        self, plan: TablePlan, staging: str, observer: StreamObserver, resumed: RunningQuery | None
    ) -> RunningQuery | None:
        """Build the new table beside the target, validate it, and swap it in atomically."""
        session = self._session_for_run()
        new_table = self._new_table_name(plan)
        self._work_tables = [staging, new_table]
        with self._phase("swap"):
            if resumed is None:
                session.execute(sql.create_like_sql(plan.target, new_table))
                resumed = self._start_long(sql.insert_from_staging_sql(plan.target, new_table, staging), "insert")
            if self._wait_long(resumed) is None:
                return resumed
            self._validate(new_table, plan, observer, "target")
            session.execute(sql.swap_sql(plan.target, new_table))
            self._crashpoint("commit")
            self.report.rows_merged = observer.rows
            session.execute(sql.drop_table_sql(new_table))
            session.execute(sql.drop_table_sql(staging))
        self._work_tables = []
        return None

    def _checkpoint_usable(self, checkpoint: FullRefreshCheckpoint, plan: TablePlan) -> bool:
        """The staging table still holds exactly the rows the checkpoint counted."""
        session = self._session_for_run()
        try:
            # SQL from quote_sf identifiers, escaped literals (bandit B608)
            row = session.execute(f"SELECT COUNT(*) FROM {self._staging_name(plan)}")  # noqa: S608  # nosec B608
        except AuroraBatchError:
            return False
        return bool(row) and int(row[0][0]) == checkpoint.rows_staged


def _name_of(qualified: str) -> str:
    return qualified.rsplit(".", 1)[-1].strip('"').replace('""', '"')
