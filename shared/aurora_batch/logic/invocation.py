"""What the replication entry points (Lambda handler and CLI) share: resolving the event
into tables, fanning out, running one table, continuing, and emitting metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aurora_batch.config import TableOptions, tables_for_event
from aurora_batch.errors import AuroraBatchError, PermanentError
from aurora_batch.logic.replicate import Budget, Progress, RunReport, TableReplication, new_run_id
from aurora_batch.model import RunStatus
from aurora_batch.observability import bind_run, emit_run_metrics
from aurora_batch.wiring import Runtime

_EVENTBRIDGE_KEYS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}


class RunFailedError(PermanentError):
    """Raised by the Lambda handler so a failed run counts as an error (alarms, DLQ)."""


def normalize_event(event: Mapping[str, Any] | None) -> dict[str, Any]:
    """An EventBridge scheduled event without a constant input carries no table options."""
    if not event:
        return {}
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        return {k: v for k, v in event.items() if k not in _EVENTBRIDGE_KEYS}
    return dict(event)


def table_event(options: TableOptions, *, continuation: bool = False) -> dict[str, Any]:
    """The event that replicates exactly one table (used for fan-out and continuation)."""
    payload = options.model_dump(mode="json", exclude_defaults=True)
    payload.setdefault("schema_name", options.schema_name)
    payload["table_name"] = options.table_name
    if continuation:
        payload.pop("last_value", None)  # the lower bound override applies to one run only
    return payload


def run_table(
    options: TableOptions,
    runtime: Runtime,
    *,
    remaining_seconds: Callable[[], float] | None = None,
    progress: Progress | None = None,
) -> RunReport:
    settings = runtime.settings
    try:
        services = runtime.services()
    except AuroraBatchError as exc:
        report = RunReport(run_id=new_run_id(), table=options.ref.qualified, mode=options.mode.value)
        report.error = exc.to_dict()
        return report
    replication = TableReplication(
        options,
        settings,
        services,
        budget=Budget(remaining_seconds, float(settings.time_margin_seconds)),
        progress=progress,
    )
    bind_run(replication.report.run_id, options.ref.qualified)
    try:
        return replication.run()
    finally:
        services.staging.close()


def handle_replication_event(
    event: Mapping[str, Any] | None,
    runtime: Runtime,
    *,
    remaining_seconds: Callable[[], float] | None = None,
    function_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run (or fan out) the tables an event names. Raises ConfigError before connecting."""
    resolved = normalize_event(event)
    tables = tables_for_event(runtime.settings, resolved)
    if len(tables) > 1 and function_name:
        from aurora_batch.adapters.lambda_invoker import LambdaInvoker

        invoker = LambdaInvoker(runtime.lambda_client)
        for options in tables:
            invoker.invoke_async(function_name, table_event(options))
        return {"status": "fanned_out", "tables": [t.ref.qualified for t in tables]}
    reports = []
    for options in tables:
        report = run_table(options, runtime, remaining_seconds=remaining_seconds, progress=progress)
        emit_run_metrics(report.to_dict())
        if report.status == RunStatus.CONTINUED.value and function_name:
            from aurora_batch.adapters.lambda_invoker import LambdaInvoker

            LambdaInvoker(runtime.lambda_client).invoke_async(function_name, table_event(options, continuation=True))
        reports.append(report.to_dict())
    if len(reports) == 1:
        return reports[0]
    return {"status": _overall(reports), "runs": reports}


def _overall(reports: list[dict[str, Any]]) -> str:
    statuses = {r["status"] for r in reports}
    for status in ("failed", "locked", "continued"):
        if status in statuses:
            return status
    return "succeeded"
