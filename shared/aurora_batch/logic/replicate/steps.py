"""The run's shared state and bookkeeping: phases, the Snowflake session, the lease, the report,
the watermark, the checkpoint and the run's conclusion. The steps and strategies build on it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aurora_batch.config import Settings, TableOptions
from aurora_batch.logic import load as sql
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.checkpoint import (
    FullRefreshCheckpoint,
    IncrementalCheckpoint,
    LongStatement,
    RunningQuery,
)
from aurora_batch.logic.replicate.plan import TablePlan
from aurora_batch.logic.replicate.report import Budget, NoProgress, Progress, RunReport, new_run_id
from aurora_batch.logic.replicate.services import Services
from aurora_batch.model import RunStatus, StagedPart, TargetTable
from aurora_batch.observability import traced_phase
from aurora_batch.ports import Lease, TableState, TargetSession
from aurora_batch.watermark import Watermark, as_watermark_value

STAGING_SUFFIX = "__AB_STG_"
NEW_SUFFIX = "__AB_NEW_"
# Polling a long statement: from 50 ms, doubling, to at most 5 s between status calls.
POLL_FIRST_SECONDS = 0.05
POLL_MAX_SECONDS = 5.0

QueryResult = tuple[list[str], list[tuple[Any, ...]]]


class RunSteps:
    """One invocation's work on one table: what every step shares."""

    def __init__(
        self,
        options: TableOptions,
        settings: Settings,
        services: Services,
        *,
        budget: Budget | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self.settings = settings
        self.services = services
        self.budget = budget or Budget()
        self.progress = progress or NoProgress()
        self.clock = clock
        self.sleep = sleep
        self.table = options.ref.qualified
        self.report = RunReport(run_id=new_run_id(), table=self.table, mode=options.mode.value)
        self._lease: Lease | None = None
        self._lease_renewed_at = 0.0
        self._session: TargetSession | None = None
        self._target_ready = False
        self._work_tables: list[str] = []  # Snowflake tables dropped if the run fails

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        self.progress.phase(name)
        started = time.perf_counter()
        try:
            with traced_phase(name):
                yield
        finally:
            elapsed = time.perf_counter() - started
            self.report.phases[name] = round(self.report.phases.get(name, 0.0) + elapsed, 3)
            self.progress.phase_finished(name, elapsed)

    def _session_for_run(self) -> TargetSession:
        if self._session is None:
            tag = f"aurora-batch:{self.table}:{self.report.run_id}"
            self._session = self.services.snowflake(tag)
        return self._session

    def _start_long(self, statement: str, kind: LongStatement, parts: Sequence[StagedPart] = ()) -> RunningQuery:
        """Submit a long statement (COPY, MERGE, INSERT, INSERT OVERWRITE) without waiting for it."""
        query_id = self._session_for_run().submit(statement)
        return RunningQuery(query_id, kind, tuple(parts))

    def _wait_long(self, running: RunningQuery, *, may_stop: bool = True) -> QueryResult | None:
        """The statement's result once it has finished, or None when the invocation's time ran low
        first (`may_stop`): the statement keeps running in Snowflake and the caller checkpoints it."""
        session = self._session_for_run()
        interval = POLL_FIRST_SECONDS
        while not session.query_finished(running.query_id):
            if may_stop and self.budget.low():
                return None
            self._keep_lease()
            self.sleep(interval)
            interval = min(interval * 2, POLL_MAX_SECONDS)
        return session.query_result(running.query_id)

    def _crashpoint(self, name: str) -> None:
        """Failure injection for the convergence tests: AURORA_BATCH_CRASH_AT=<name> kills the process
        here with SIGKILL, as a Lambda timeout or an out-of-memory kill would. Unset in production."""
        if self.settings.crash_at == name:
            os.kill(os.getpid(), signal.SIGKILL)

    def _keep_lease(self) -> None:
        """Renew the lease once a third of it has passed, so long runs never lose it."""
        if self._lease is None:
            return
        if self.clock() - self._lease_renewed_at >= self.settings.lease_seconds / 3:
            self._lease = self.services.state.renew_lease(self._lease, self.settings.lease_seconds)
            self._lease_renewed_at = self.clock()

    def _run_path(self, plan: TablePlan) -> str:
        """`<schema>.<table>/<run_id>` (TableRef.qualified: a name with a dot is quoted, so no two
        tables share a prefix), under STAGING_PREFIX: the stage sees the same relative path."""
        return f"{plan.source.ref.qualified}/{self.report.run_id}"

    def _staging_name(self, plan: TablePlan) -> str:
        return plan.target.sibling(f"{plan.target.name}{STAGING_SUFFIX}{_short(self.report.run_id)}")

    def _new_table_name(self, plan: TablePlan) -> str:
        return plan.target.sibling(f"{plan.target.name}{NEW_SUFFIX}{_short(self.report.run_id)}")

    def _existing_columns(self, target: TargetTable) -> list[sql.ExistingColumn] | None:
        """The target's columns as Snowflake describes them, or None when it does not exist yet."""
        session = self._session_for_run()
        if int(session.execute(sql.table_exists_sql(target))[0][0]) == 0:
            return None
        rows = session.execute(sql.describe_columns_sql(target))
        return [sql.ExistingColumn.from_row(r) for r in rows]

    def _record_counts(self, observer: StreamObserver, parts: list[StagedPart], *, rows_before: int = 0) -> None:
        self.report.rows_extracted += observer.rows - rows_before
        self.report.rows_staged += sum(p.rows for p in parts)
        self.report.bytes_staged += sum(p.bytes for p in parts)
        self.report.parts += len(parts)
        self.report.clamped_values = dict(observer.clamped)
        for column, count in observer.clamped.items():
            self.report.warnings.append(
                f"{count} value(s) of {column} were +-infinity or outside Snowflake's range and were clamped"
            )

    def _advance_watermark(self, state: TableState, plan: TablePlan, value: Any) -> None:
        """Move the watermark forward to `value` (never backwards); report before and after."""
        self.report.watermark_after = self.report.watermark_before
        if value is None or plan.watermark_type is None:
            return
        candidate = Watermark.of(as_watermark_value(value, plan.watermark_type), plan.watermark_type)
        if state.watermark is not None and not candidate > state.watermark:
            return
        assert self._lease is not None
        self._keep_lease()
        with self._phase("commit"):
            self.services.state.advance_watermark(self._lease, candidate, self.options.incremental_column or "")
        self.report.watermark_after = candidate.value

    def _save_checkpoint(self, checkpoint: FullRefreshCheckpoint | IncrementalCheckpoint | None) -> None:
        assert self._lease is not None
        self.services.state.save_checkpoint(self._lease, checkpoint.to_state() if checkpoint else None)

    def _conclude(self, finished: bool) -> None:
        if finished:
            self.report.status = RunStatus.SUCCEEDED.value
            return
        self.report.status = RunStatus.CONTINUED.value
        self.report.continuation = {
            "schema_name": self.options.schema_name,
            "table_name": self.options.table_name,
        }


def _short(run_id: str) -> str:
    return run_id.replace("-", "_").upper()
