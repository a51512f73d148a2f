"""Replicate one table: lease -> plan -> extract -> stage -> load -> validate -> commit state.

The run holds the table's lease throughout, picks the strategy (incremental, or a full refresh
when asked for, requested by an operator, or resuming), and records its report whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from aurora_batch.errors import AuroraBatchError, LockHeldError
from aurora_batch.logic.replicate.checkpoint import full_refresh_checkpoint
from aurora_batch.logic.replicate.full_refresh import FullRefreshRun
from aurora_batch.logic.replicate.incremental import IncrementalRun
from aurora_batch.logic.replicate.report import RunReport
from aurora_batch.model import Mode, RunStatus
from aurora_batch.observability import bind_run
from aurora_batch.ports import TableState

logger = logging.getLogger(__name__)


class TableReplication(IncrementalRun, FullRefreshRun):
    """One invocation's work on one table."""

    def run(self) -> RunReport:
        started = self.clock()
        self.report.started_at = datetime.fromtimestamp(started, UTC).isoformat()
        store = self.services.state
        try:
            self._lease = store.acquire_lease(self.table, self.report.run_id, self.settings.lease_seconds)
            self._lease_renewed_at = self.clock()
        except LockHeldError as exc:
            self.report.status = RunStatus.LOCKED.value
            self.report.error = exc.to_dict()
            self._finish(started, record=False)
            return self.report
        try:
            state = store.get(self.table)
            self._run_locked(state)
        except AuroraBatchError as exc:
            self.report.status = RunStatus.FAILED.value
            self.report.error = exc.to_dict()
            self._discard_work_tables()
            logger.error("run failed", extra={"error": exc.to_dict()})
        except Exception as exc:  # unexpected: report it, never hide it
            self.report.status = RunStatus.FAILED.value
            self.report.error = {"error": type(exc).__name__, "message": str(exc), "retryable": False}
            self._discard_work_tables()
            logger.exception("run failed unexpectedly")
        finally:
            self._finish(started, record=True)
        return self.report

    def _finish(self, started: float, *, record: bool) -> None:
        finished = self.clock()
        self.report.finished_at = datetime.fromtimestamp(finished, UTC).isoformat()
        self.report.duration_seconds = round(finished - started, 3)
        if self._session is not None:
            self._session.close()
            self._session = None
        if record:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.record_run(self.table, self.report.to_dict())
        if self._lease is not None:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.release_lease(self._lease)
            self._lease = None

    def _run_locked(self, state: TableState) -> None:
        checkpoint = full_refresh_checkpoint(state.checkpoint)
        mode = self.options.mode
        if self.options.full_refresh or state.full_reload_requested or checkpoint is not None:
            mode = Mode.FULL
        self.report.mode = mode.value
        if checkpoint is not None:
            self.report.run_id = checkpoint.run_id
            bind_run(self.report.run_id, self.table)  # log lines now carry the resumed run's id
        self.report.watermark_before = state.watermark.value if state.watermark else None
        if mode is Mode.FULL:
            self._full_refresh(state, checkpoint)
        else:
            self._incremental(state)
