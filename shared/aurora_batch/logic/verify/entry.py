"""The verify entry points: the replication function's `verify` action and the CLI's command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aurora_batch.config import TableOptions, tables_for_event
from aurora_batch.errors import AuroraBatchError, ConfigError
from aurora_batch.logic.invocation import ReplicationRuntime
from aurora_batch.logic.replicate import new_run_id
from aurora_batch.logic.verify.report import VerifyProgress, VerifyReport
from aurora_batch.logic.verify.run import TableVerification, refuse_unverifiable
from aurora_batch.observability import bind_run, emit_verify_metrics

VERIFY_ACTION = "verify"
_ACTION_KEYS = {"action", "schema_name", "table_name", "repair"}


def verify_options(runtime: ReplicationRuntime, table: str, schema: str | None = None) -> TableOptions:
    """The configured options of the table to verify; a table configuration does not list is refused."""
    event: dict[str, Any] = {"table_name": table}
    if schema:
        event["schema_name"] = schema
    (options,) = tables_for_event(runtime.settings, event)
    refuse_unverifiable(options)
    return options


def verify_table(
    options: TableOptions,
    runtime: ReplicationRuntime,
    *,
    repair: bool = False,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    """Verify (and repair) one table under its lease."""
    try:
        services = runtime.services()
    except AuroraBatchError as exc:
        return VerifyReport(run_id=new_run_id(), table=options.ref.qualified, error=exc.to_dict())
    try:
        if services.digests is None:
            raise ConfigError("this runtime cannot read source digests", table=options.ref.qualified)
        verification = TableVerification(
            options, runtime.settings, services, services.digests, repair=repair, verify_progress=progress
        )
        bind_run(verification.report.run_id, options.ref.qualified)
        return verification.verify()
    finally:
        services.staging.close()


def handle_verify_action(event: Mapping[str, Any], runtime: ReplicationRuntime) -> dict[str, Any]:
    """`{"action": "verify", "table_name": ..., "schema_name": ..., "repair": true}`."""
    unknown = sorted(set(event) - _ACTION_KEYS)
    if unknown:
        raise ConfigError(f"the verify action takes no {', '.join(unknown)}", field=unknown[0])
    table = event.get("table_name")
    if not isinstance(table, str) or not table:
        raise ConfigError("the verify action needs table_name", field="table_name")
    repair = event.get("repair", False)
    if not isinstance(repair, bool):
        raise ConfigError("repair must be true or false", field="repair")
    schema = event.get("schema_name")
    options = verify_options(runtime, table, schema if isinstance(schema, str) else None)
    report = verify_table(options, runtime, repair=repair).to_dict()
    emit_verify_metrics(report)
    return report
