"""Verify one table, and repair it when asked: lease -> plan -> digests in one source snapshot ->
descend -> classify -> (re-read the differing keys, MERGE, delete per delete_mode) -> check again.

The repair is a run without a watermark: it stages and MERGEs exactly the keys found missing or
changed, read in the snapshot the comparison was made in, under the usual COPY checks and
aggregate validation. MERGE and the deletes are idempotent and the watermark is never touched,
so a repair killed at any point is simply run again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aurora_batch.config import Settings, TableOptions
from aurora_batch.digest import DELETED_AT_COLUMN, KEY_HASH_COLUMN, ROW_HASH_COLUMN
from aurora_batch.errors import AuroraBatchError, ConfigError, LockHeldError, SourceSchemaError
from aurora_batch.logic import load as sql
from aurora_batch.logic.replicate.plan import TablePlan, staged_name
from aurora_batch.logic.replicate.services import Services
from aurora_batch.logic.replicate.slices import BlockRange, block_ranges
from aurora_batch.logic.replicate.source_steps import SourceSteps
from aurora_batch.logic.replicate.target_steps import TargetSteps
from aurora_batch.logic.verify.compare import Comparison, classify, compare
from aurora_batch.logic.verify.report import NoVerifyProgress, VerifyProgress, VerifyReport
from aurora_batch.logic.verify.target import IN_LIST_CHUNK, TargetDigests, hard_delete_sql, soft_delete_sql
from aurora_batch.model import Mode
from aurora_batch.ports import (
    BucketDigest,
    DigestRow,
    DigestScope,
    Snapshot,
    SourceDigests,
    SourceDigestsFactory,
    TableState,
)
from aurora_batch.watermark import lower_bound

logger = logging.getLogger(__name__)
_Read = TypeVar("_Read")


class _ScopedSource:
    """The source's digests bound to one scope (compare.DigestSide). With several block ranges each
    range is read at once on a connection of its own, in the same snapshot, and the results are
    added up: the ranges partition the snapshot's rows, and a bucket's digest is a sum."""

    def __init__(self, digests: SourceDigests, scope: DigestScope, ranges: Sequence[BlockRange]) -> None:
        self._digests = digests
        self._scopes = [scope] if len(ranges) <= 1 else [replace(scope, block_range=r) for r in ranges]

    def bucket_digests(self, modulus: int, within: tuple[int, Sequence[int]] | None) -> dict[int, BucketDigest]:
        total: dict[int, BucketDigest] = {}
        for found in self._each(lambda scope: self._digests.bucket_digests(scope, modulus, within)):
            for bucket, digest in found.items():
                total[bucket] = digest + total[bucket] if bucket in total else digest
        return total

    def leaf_rows(self, modulus: int, buckets: Sequence[int]) -> list[DigestRow]:
        return [
            row for rows in self._each(lambda scope: self._digests.leaf_rows(scope, modulus, buckets)) for row in rows
        ]

    def _each(self, read: Callable[[DigestScope], _Read]) -> list[_Read]:
        if len(self._scopes) == 1:
            return [read(self._scopes[0])]
        with ThreadPoolExecutor(len(self._scopes), thread_name_prefix="verify-range") as pool:
            return list(pool.map(read, self._scopes))


def refuse_unverifiable(options: TableOptions) -> None:
    """Options that can never be verified, refused before any connection."""
    if not options.row_digest:
        raise ConfigError(
            f"{options.ref.qualified} has no row digest to verify: set row_digest: true for it in TABLES "
            "(the first verify --repair then fills the digest of the rows already loaded)",
            table=options.ref.qualified,
            field="row_digest",
        )


class TableVerification(SourceSteps, TargetSteps):
    """One verify (and optional repair) of one table."""

    def __init__(
        self,
        options: TableOptions,
        settings: Settings,
        services: Services,
        digests: SourceDigestsFactory,
        *,
        repair: bool = False,
        verify_progress: VerifyProgress | None = None,
    ) -> None:
        super().__init__(options, settings, services)
        self._digests = digests
        self._verify_progress = verify_progress or NoVerifyProgress()
        self.result = VerifyReport(
            run_id=self.report.run_id, table=self.table, repair=repair, delete_mode=options.delete_mode
        )

    def verify(self) -> VerifyReport:
        started = time.perf_counter()
        self.result.started_at = datetime.now(UTC).isoformat()
        try:
            self._lease = self.services.state.acquire_lease(self.table, self.report.run_id, self.settings.lease_seconds)
            self._lease_renewed_at = self.clock()
        except LockHeldError as exc:
            self.result.status, self.result.error = "locked", exc.to_dict()
            return self._finish(started)
        try:
            self._verify_locked(self.services.state.get(self.table))
        except AuroraBatchError as exc:
            self.result.status, self.result.error = "failed", exc.to_dict()
            self._discard_work_tables()
            logger.error("verify failed", extra={"error": exc.to_dict()})
        finally:
            self._finish(started)
        return self.result

    def _finish(self, started: float) -> VerifyReport:
        self.result.duration_seconds = round(time.perf_counter() - started, 3)
        self.result.finished_at = datetime.now(UTC).isoformat()
        self.result.phases = dict(self.report.phases)
        with contextlib.suppress(AuroraBatchError):  # the run history is a record, not the verify's outcome
            self.services.state.record_verify(self.table, self.result.to_dict())
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._lease is not None:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.release_lease(self._lease)
            self._lease = None
        return self.result

    def _verify_locked(self, state: TableState) -> None:
        if state.checkpoint is not None:
            raise ConfigError(
                f"a run of {self.table} is unfinished (it has a checkpoint): verify once it has finished",
                table=self.table,
            )
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, self.options.mode)
            scope = self._scope(plan, state)
            self._require_digest_columns(plan)
            target = TargetDigests(
                self._session_for_run(), plan.target, soft_deletes=self._has_column(plan, DELETED_AT_COLUMN)
            )
            ranges = self._ranges(snapshot, plan)
            self.result.source_ranges = len(ranges)
            source = _ScopedSource(self._digests(snapshot), scope, ranges)
            with self._phase("compare"):
                comparison = compare(
                    source, target, on_level=self._verify_progress.level, on_start=self._verify_progress.level_started
                )
            self.result.record(comparison)
            if not self.result.repair or not self.result.drift:  # pending rows are the next run's
                self.result.status = "drift" if self.result.drift else "exact"
                return
            self._repair(snapshot, plan, scope, comparison)
            with self._phase("recheck"):
                again = classify(
                    comparison.source_leaf, target.leaf_rows(comparison.leaf_modulus, comparison.leaf_buckets)
                )
            counted = ("missing", "changed") if self.options.delete_mode == "off" else ("missing", "changed", "deleted")
            self.result.remaining = sum(1 for d in again if d.kind in counted)
            self.result.status = "repaired" if self.result.remaining == 0 else "drift"

    def _scope(self, plan: TablePlan, state: TableState) -> DigestScope:
        if not plan.keys:
            raise SourceSchemaError(
                f"{self.table} has no primary key and no merge_keys: verify compares rows by key",
                table=self.table,
                field="merge_keys",
            )
        hidden = {KEY_HASH_COLUMN, ROW_HASH_COLUMN, DELETED_AT_COLUMN}
        row_columns = tuple(
            (c.source.name, c.source.type_name) for c in plan.pipeline.source_columns if c.staged_name not in hidden
        )
        pending_column, pending_from = None, None
        if self.options.mode is Mode.INCREMENTAL and plan.watermark_type is not None:
            pending_column = self.options.incremental_column
            if state.watermark is not None:
                pending_from = lower_bound(
                    state.watermark.parsed,
                    plan.watermark_type,
                    lookback_seconds=self.options.lookback_seconds,
                    lookback_integer=self.options.lookback_integer,
                )
        return DigestScope(plan.source.ref, plan.keys, row_columns, self.options.where, pending_column, pending_from)

    def _ranges(self, snapshot: Snapshot, plan: TablePlan) -> list[BlockRange]:
        """Block ranges digested at once: as many as the extract would stream (EXTRACT_STREAMS)."""
        blocks, table_bytes = snapshot.table_blocks(plan.source.ref)
        return block_ranges(blocks, table_bytes, self.settings.streams, self.settings.extract_slice_min_bytes)

    def _has_column(self, plan: TablePlan, name: str) -> bool:
        return any(c.name == name for c in plan.target.columns)

    def _require_digest_columns(self, plan: TablePlan) -> None:
        existing = self._existing_columns(plan.target)
        if existing is None:
            raise ConfigError(
                f"{self.table} has no target table yet: replicate it before verifying it", table=self.table
            )
        missing = {c.name for c in plan.target.columns} - {c.name for c in existing}
        if missing and not self.result.repair:
            raise ConfigError(
                f"the target of {self.table} lacks {', '.join(sorted(missing))}: run verify --repair "
                "(or a run of the table) once to add them",
                table=self.table,
            )
        self._prepare_target(plan.target, create=False)  # adds the hidden columns the target lacks

    def _repair(self, snapshot: Snapshot, plan: TablePlan, scope: DigestScope, comparison: Comparison) -> None:
        reread = comparison.keys_of("missing", "changed")
        if reread:
            self._merge_keys(snapshot, plan, scope, reread)
        deleted = comparison.keys_of("deleted")
        if deleted and self.options.delete_mode != "off":
            statement = soft_delete_sql if self.options.delete_mode == "soft" else hard_delete_sql
            session = self._session_for_run()
            with self._phase("delete"):
                for start in range(0, len(deleted), IN_LIST_CHUNK):
                    session.execute(statement(plan.target, deleted[start : start + IN_LIST_CHUNK]))
            self.result.repaired_deleted = len(deleted)

    def _merge_keys(self, snapshot: Snapshot, plan: TablePlan, scope: DigestScope, key_hashes: list[int]) -> None:
        """Stage the rows of `key_hashes`, read in the comparison's snapshot, and MERGE them."""
        predicate = self._digests(snapshot).key_hash_predicate(scope, key_hashes)
        extract = self._extract_plan(plan, [predicate], ())
        observer = self._observer(plan)
        parts, _ = self._stage(snapshot, plan, extract, observer, 0)
        self._record_counts(observer, parts)
        self.result.rows_read_by_copy = observer.rows
        if not parts:
            return
        session = self._session_for_run()
        staging = self._staging_name(plan)
        self._drop_stale_work_tables(plan.target, keep=set())
        self._work_tables = [staging]
        session.execute(sql.create_staging_sql(plan.target, staging))
        running = self._copy_parts(plan.target, staging, parts)
        if running is not None:
            self._finish_copy(running, may_stop=False)
        self._crashpoint("copy")
        self._validate(staging, plan, observer, "staging")
        with self._phase("merge"):
            keys = [staged_name(plan, k) for k in plan.keys]
            order = plan.watermark_column.staged_name if plan.watermark_column else None
            outcome = self._wait_long(self._start_long(sql.merge_sql(plan.target, staging, keys, order), "merge"))
        self.result.repaired_merged = _merged_rows(outcome)
        self._crashpoint("commit")
        session.execute(sql.drop_table_sql(staging))
        self._work_tables = []
        self._cleanup(self._run_path(plan))


def _merged_rows(outcome: Any) -> int:
    if not outcome or not outcome[1]:
        return 0
    return sum(int(v or 0) for v in outcome[1][0][:2])
