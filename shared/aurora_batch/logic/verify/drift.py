"""The cheap drift signal of every incremental run: the source's key count up to the watermark,
read in the run's snapshot, against the target's count of live rows, read after the MERGE.

Both sides count the same rows: those the table's `where` selects with a non-NULL watermark column
(NULLs are never extracted incrementally), at or below the newest value the snapshot holds (every
such row was read by this run or an earlier one). The target leaves out rows a soft-deleting repair
marked (`_AB_DELETED_AT`). A non-zero difference means rows were deleted in the source (positive)
or lost from the target (negative): a verify is due. A silent UPDATE leaves the counts equal; only
a verify finds it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aurora_batch.config import TableOptions
from aurora_batch.digest import DELETED_AT_COLUMN
from aurora_batch.model import TargetTable, quote_sf
from aurora_batch.ports import DigestScope, Snapshot, SourceDigestsFactory, TargetSession

if TYPE_CHECKING:  # the replicate package imports this module
    from aurora_batch.logic.replicate.plan import TablePlan
    from aurora_batch.logic.replicate.report import RunReport

logger = logging.getLogger(__name__)


def source_key_count(
    digests: SourceDigestsFactory | None, snapshot: Snapshot, plan: TablePlan, options: TableOptions, upper: Any
) -> int | None:
    """The source rows up to `upper` (the snapshot's newest watermark value), in the run's snapshot;
    None when this runtime cannot count (no digests adapter) or the plan has no watermark column."""
    if digests is None or plan.watermark_column is None:
        return None
    scope = DigestScope(plan.source.ref, plan.keys, (), options.where)
    return digests(snapshot).key_count(scope, plan.watermark_column.source.name, upper)


def target_key_count_sql(target: TargetTable, watermark_column: str) -> str:
    live = [f"{quote_sf(watermark_column)} IS NOT NULL"]
    if any(c.name == DELETED_AT_COLUMN for c in target.columns):
        live.append(f"{quote_sf(DELETED_AT_COLUMN)} IS NULL")
    # SQL from quote_sf identifiers, escaped literals (bandit B608)
    return f"SELECT COUNT(*) FROM {target.sql} WHERE {' AND '.join(live)}"  # noqa: S608  # nosec B608


def report_key_counts(report: RunReport, session: TargetSession, plan: TablePlan, source_count: int | None) -> None:
    """Count the target, and put both counts, their difference and whether a verify is due in the report."""
    if source_count is None or plan.watermark_column is None:
        return
    rows = session.execute(target_key_count_sql(plan.target, plan.watermark_column.staged_name))
    target_count = int(rows[0][0])
    difference = target_count - source_count
    report.key_count_source, report.key_count_target = source_count, target_count
    report.key_count_difference, report.verify_due = difference, difference != 0
    if difference:
        message = (
            f"the target holds {target_count:,} rows up to the watermark, the source {source_count:,} "
            f"({difference:+,}): a verify is due"
        )
        report.warnings.append(message)
        logger.warning(
            "key counts differ: a verify is due",
            extra={"key_count_source": source_count, "key_count_target": target_count, "difference": difference},
        )
