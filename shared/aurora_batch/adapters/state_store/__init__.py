"""The replication state in DynamoDB: watermarks, lease locks, run history and admin audit.

Split by caller: `runs` (a replication run and the staging cleanup), `admin` (the operator's
admin function), both over `table` (requests, errors, reads) and `codec` (keys and values).
`StateStore` offers both parts, for wiring that serves more than one caller.
"""

from __future__ import annotations

from typing import Any

from aurora_batch.adapters.state_store.admin import AdminStateTable
from aurora_batch.adapters.state_store.runs import ADVANCE_ATTEMPTS, RunStateTable
from aurora_batch.adapters.state_store.table import (
    DEFAULT_AUDIT_RETENTION_SECONDS,
    DEFAULT_MAX_RUN_HISTORY,
    DEFAULT_RUN_RETENTION_SECONDS,
    StateTable,
)
from aurora_batch.ports import AuditRecord, Lease, TableState
from aurora_batch.watermark import Watermark, WatermarkType

__all__ = [
    "ADVANCE_ATTEMPTS",
    "DEFAULT_AUDIT_RETENTION_SECONDS",
    "DEFAULT_MAX_RUN_HISTORY",
    "DEFAULT_RUN_RETENTION_SECONDS",
    "AdminStateTable",
    "AuditRecord",
    "Lease",
    "RunStateTable",
    "StateStore",
    "StateTable",
    "TableState",
    "Watermark",
    "WatermarkType",
    "make_dynamodb_client",
]


class StateStore(RunStateTable, AdminStateTable):
    """Reads and conditionally writes the state table through an injected boto3 DynamoDB client."""


def make_dynamodb_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
