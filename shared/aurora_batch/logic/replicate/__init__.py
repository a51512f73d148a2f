"""Replicate one table (see run.py for the run, incremental.py and full_refresh.py for the strategies)."""

from aurora_batch.logic.replicate.checkpoint import FullRefreshCheckpoint, IncrementalCheckpoint
from aurora_batch.logic.replicate.dry_run import PLANNED, ReplicationDryRun, refuse_forward_last_value
from aurora_batch.logic.replicate.plan import ExtractWindow, TablePlan, plan_table
from aurora_batch.logic.replicate.report import Budget, NoProgress, Progress, RunReport, new_run_id
from aurora_batch.logic.replicate.run import TableReplication
from aurora_batch.logic.replicate.services import Services
from aurora_batch.logic.replicate.steps import NEW_SUFFIX, STAGING_SUFFIX

__all__ = [
    "NEW_SUFFIX",
    "PLANNED",
    "STAGING_SUFFIX",
    "Budget",
    "ExtractWindow",
    "FullRefreshCheckpoint",
    "IncrementalCheckpoint",
    "NoProgress",
    "Progress",
    "ReplicationDryRun",
    "RunReport",
    "Services",
    "TablePlan",
    "TableReplication",
    "new_run_id",
    "plan_table",
    "refuse_forward_last_value",
]
