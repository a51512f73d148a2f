"""Watermark admin Lambda: get, list, set, reset and unlock a table's replication state.

Thin by design: Powertools decorators, parse event and config, one call into `shared`,
shape the result. The audited actor is the event's `actor`; without one, the caller named in
the Lambda context; and never empty. It imports nothing that needs pyarrow, the Snowflake
connector, psycopg2 or hvac (its zip ships none of them): wiring_light, not wiring."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aurora_batch.config import ops_settings_from_env
from aurora_batch.logic.watermark_admin import AdminRequest, handle_admin_request
from aurora_batch.observability import logger, set_log_level, tracer
from aurora_batch.wiring_light import OpsRuntime
from aws_lambda_powertools.utilities.typing import LambdaContext

# The result's fields worth a log line (get and list return whole states and histories).
_LOGGED = ("action", "table", "dry_run", "changed", "old", "new", "actor", "reason", "audit_id")


@cache
def runtime() -> OpsRuntime:
    """Parsed once per cold start."""
    settings = ops_settings_from_env()
    set_log_level(settings.log_level)
    return OpsRuntime(settings)


def now() -> datetime:
    return datetime.now(UTC)


def caller_identity(event: dict[str, Any], context: LambdaContext) -> Any:
    """Who asks: the event's actor, else the ClientContext's custom `actor` (set by the invoking
    SDK call), else the Cognito identity, else the function invoked. A non-string actor in the
    event is passed on so that validation names it."""
    claimed = event.get("actor")
    if claimed is not None and not (isinstance(claimed, str) and not claimed.strip()):
        return claimed
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    if isinstance(custom.get("actor"), str) and custom["actor"].strip():
        return custom["actor"]
    cognito_id = getattr(getattr(context, "identity", None), "cognito_identity_id", None)
    if cognito_id:
        return f"cognito:{cognito_id}"
    return f"unidentified caller of {context.invoked_function_arn}"


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = AdminRequest.from_event({**event, "actor": caller_identity(event, context)})
    result = handle_admin_request(request, runtime().state, now)
    logger.info("admin request done", extra={k: v for k, v in result.items() if k in _LOGGED})
    return result
