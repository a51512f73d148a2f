"""Replication Lambda: EventBridge schedule, manual and multi-table events.

Thin by design: Powertools decorators, parse event and config, one call into `shared`,
shape the result. Everything else lives in aurora_batch."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aurora_batch.errors import RunFailedError
from aurora_batch.logic.invocation import handle_replication_event
from aurora_batch.observability import logger, set_log_level, tracer
from aurora_batch.wiring import Runtime, load_settings
from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def runtime() -> Runtime:
    """Parsed once per cold start (TABLES read from SSM or S3 here when configured so)."""
    settings = load_settings()
    set_log_level(settings.log_level)
    return Runtime(settings)


# No @metrics.log_metrics: every table's run flushes its own metrics when it ends, with its table
# dimension (observability.emit_run_metrics), so an end-of-invocation flush would only be empty.
@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = handle_replication_event(
        event,
        runtime(),
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
        function_name=context.invoked_function_arn,
    )
    if result.get("status") == "failed":
        # A failed run is a failed invocation: the Errors alarm and the on-failure destination see it.
        raise RunFailedError(json.dumps(result, default=str), table=result.get("table"), run_id=result.get("run_id"))
    return result
