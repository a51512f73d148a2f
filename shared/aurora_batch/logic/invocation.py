"""What the replication entry points (Lambda handler and CLI) share: resolving the event
into tables, fanning out, running one table, continuing, and emitting metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aurora_batch.config import ReplicationEvent, Settings, TableOptions, replication_event, tables_for_event
from aurora_batch.config.events import ORCHESTRATION_ACTIONS
from aurora_batch.errors import AuroraBatchError, ConfigError, RunFailedError
from aurora_batch.logic.replicate import (
    PLANNED,
    Budget,
    Progress,
    ReplicationDryRun,
    RunReport,
    Services,
    TableReplication,
    new_run_id,
    refuse_forward_last_value,
)
from aurora_batch.model import Mode, RunStatus
from aurora_batch.observability import bind_run, emit_run_metrics
from aurora_batch.ports import Invoker

__all__ = [
    "ReplicationRuntime",
    "RunFailedError",
    "continued_options",
    "handle_replication_event",
    "plan_run",
    "run_table",
    "table_event",
    "verify_event",
]

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


class ReplicationRuntime(Protocol):
    """What the entry points hand in (wiring.Runtime): the settings and the adapters they build."""

    @property
    def settings(self) -> Settings: ...

    def services(self) -> Services:
        """The per-run adapters (reads the connection secrets)."""
        ...

    def invoker(self) -> Invoker:
        """Asynchronous invocations of this function (fan-out and continuation)."""
        ...


def normalize_event(event: Mapping[str, Any] | None) -> dict[str, Any]:
    """An EventBridge scheduled event without a constant input names no table: its envelope goes."""
    if not event:
        return {}
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        return {k: v for k, v in event.items() if k not in _EVENTBRIDGE_KEYS}
    return dict(event)


def table_event(options: TableOptions, event: ReplicationEvent, *, continuation: bool = False) -> dict[str, Any]:
    """The event that replicates exactly one table (fan-out and continuation): its name and the
    selections the incoming event made, never a configured option (the receiver reads those)."""
    payload: dict[str, Any] = {"schema_name": options.schema_name, "table_name": options.table_name}
    payload.update(
        {key: value.value if isinstance(value, Mode) else value for key, value in event.selections().items()}
    )
    if event.dry_run:
        payload["dry_run"] = True
    if continuation:
        payload.pop("last_value", None)  # the lower bound override applies to one run only
        payload["continuation"] = True
    return payload


def verify_event(options: TableOptions) -> dict[str, Any]:
    """The event that verifies one table (verify_on_drift, the verify_schedule rule): its name and
    whether to repair, which is the table's configured verify_repair."""
    return {
        "action": "verify",
        "schema_name": options.schema_name,
        "table_name": options.table_name,
        "repair": options.verify_repair,
    }


def continued_options(options: TableOptions) -> TableOptions:
    """The options of the next invocation of a continued run: the same, without last_value."""
    return options.model_copy(update={"last_value": None})


def run_table(
    options: TableOptions,
    runtime: ReplicationRuntime,
    *,
    remaining_seconds: Callable[[], float] | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Run one table. A `last_value` above the stored watermark is refused before the lease:
    the report says failed, and nothing is recorded or changed."""
    settings = runtime.settings
    try:
        services = runtime.services()
    except AuroraBatchError as exc:
        return _refused(options, exc)
    try:
        try:
            refuse_forward_last_value(options, services.state.get(options.ref.qualified))
        except AuroraBatchError as exc:
            return _refused(options, exc)
        replication = TableReplication(
            options,
            settings,
            services,
            budget=Budget(remaining_seconds, float(settings.time_margin_seconds)),
            progress=progress,
        )
        bind_run(replication.report.run_id, options.ref.qualified)
        return replication.run()
    finally:
        services.staging.close()


def plan_run(options: TableOptions, runtime: ReplicationRuntime) -> dict[str, Any]:
    """A dry run: the plan of one table's run, with nothing changed (status `planned`, or failed)."""
    try:
        services = runtime.services()
    except AuroraBatchError as exc:
        return {**_refused(options, exc).to_dict(), "dry_run": True}
    try:
        return ReplicationDryRun(options, runtime.settings, services).plan()
    finally:
        services.staging.close()


def _refused(options: TableOptions, exc: AuroraBatchError) -> RunReport:
    report = RunReport(run_id=new_run_id(), table=options.ref.qualified, mode=options.mode.value)
    report.error = exc.to_dict()
    return report


def handle_replication_event(
    event: Mapping[str, Any] | None,
    runtime: ReplicationRuntime,
    *,
    remaining_seconds: Callable[[], float] | None = None,
    function_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run (or fan out, or plan) the tables an event names. An event outside the contract
    (config/events.py) raises ConfigError naming the key or table, before any connection."""
    if event and event.get("action") == "verify":
        from aurora_batch.logic.verify.entry import handle_verify_action  # imports this module

        return handle_verify_action(event, runtime)
    if event and event.get("action") in ORCHESTRATION_ACTIONS:
        from aurora_batch.logic.orchestration import handle_orchestration_action  # the state machine's tasks

        return handle_orchestration_action(event, runtime)
    parsed = replication_event(normalize_event(event))
    if parsed.continuation and parsed.last_value is not None:
        raise ConfigError("a continuation carries no last_value (its bounds are in the checkpoint)", field="last_value")
    tables = tables_for_event(runtime.settings, parsed)
    if len(tables) > 1 and function_name:
        invoker = runtime.invoker()
        for options in tables:
            invoker.invoke_async(function_name, table_event(options, parsed))
        return {"status": "fanned_out", "tables": [t.ref.qualified for t in tables]}
    reports = []
    for options in tables:
        if parsed.dry_run:  # a plan: no metrics, no continuation
            reports.append(plan_run(options, runtime))
            continue
        result = run_table(options, runtime, remaining_seconds=remaining_seconds, progress=progress)
        if result.verify_due and options.verify_on_drift and function_name:
            # Through the same asynchronous self-invocation as fan-out: the verify takes the lease this run released.
            runtime.invoker().invoke_async(function_name, verify_event(options))
            result.verify_triggered = True
        emit_run_metrics(result.to_dict())
        if result.status == RunStatus.CONTINUED.value and function_name:
            runtime.invoker().invoke_async(function_name, table_event(options, parsed, continuation=True))
        reports.append(result.to_dict())
    if len(reports) == 1:
        return reports[0]
    return {"status": _overall(reports), "runs": reports}


def _overall(reports: list[dict[str, Any]]) -> str:
    statuses = {r["status"] for r in reports}
    for status in ("failed", "locked", "continued"):
        if status in statuses:
            return status
    if statuses == {PLANNED}:
        return PLANNED
    return "succeeded"
