"""Watermark admin Lambda: get, list, set, reset and unlock a table's replication state.

Thin by design: Powertools decorators, parse event and config, one call into `shared`,
shape the result. The audited actor is the principal that signed the request (the function
URL's AWS_IAM authentication); a caller-written `actor` is refused, and an unsigned call (a
direct Invoke) may only get and list (logic.admin_identity). Through the function URL the
request is the HTTP body and the answer an HTTP response. It imports nothing that needs
pyarrow, the Snowflake connector, psycopg2 or hvac (its zip ships none of them): wiring_light,
not wiring."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aurora_batch.config import ops_settings_from_env
from aurora_batch.errors import (
    AdminAccessDeniedError,
    AuroraBatchError,
    ConfigError,
    LeaseActiveError,
    WatermarkConflictError,
)
from aurora_batch.logic.admin_identity import admin_call, authorized_actor
from aurora_batch.logic.watermark_admin import AdminRequest, handle_admin_request
from aurora_batch.observability import logger, set_log_level, tracer
from aurora_batch.wiring_light import OpsRuntime
from aws_lambda_powertools.utilities.typing import LambdaContext

# The result's fields worth a log line (get and list return whole states and histories).
_LOGGED = ("action", "table", "dry_run", "changed", "old", "new", "actor", "reason", "audit_id")
# HTTP status of a refused request; other errors fail the invocation (502 through the URL).
_HTTP_STATUS: tuple[tuple[type[AuroraBatchError], int], ...] = (
    (AdminAccessDeniedError, 403),
    (ConfigError, 400),
    (LeaseActiveError, 409),
    (WatermarkConflictError, 409),
)


@cache
def runtime() -> OpsRuntime:
    """Parsed once per cold start."""
    settings = ops_settings_from_env()
    set_log_level(settings.log_level)
    return OpsRuntime(settings)


def now() -> datetime:
    return datetime.now(UTC)


def answer(event: dict[str, Any]) -> dict[str, Any]:
    """The result, or through the function URL an HTTP response. Refusals raise (or answer 4xx
    over HTTP) before anything is written."""
    over_http = isinstance(event.get("requestContext"), dict)
    try:
        call = admin_call(event)
        logger.append_keys(principal=call.principal, via=call.via)
        request = AdminRequest.from_event(call.request)
        actor = authorized_actor(request.action.value, call, runtime().settings.admin_principals)
        if actor is not None:
            request = AdminRequest.from_event({**call.request, "actor": actor})
        result = handle_admin_request(request, runtime().state, now)
    except AuroraBatchError as exc:
        status = next((code for kind, code in _HTTP_STATUS if isinstance(exc, kind)), None)
        if not over_http or status is None:
            raise
        logger.warning("admin request refused", extra={"status": status, "refusal": exc.to_dict()})
        return {"statusCode": status, **_json_body(exc.to_dict())}
    logger.info("admin request done", extra={k: v for k, v in result.items() if k in _LOGGED})
    return {"statusCode": 200, **_json_body(result)} if over_http else result


def _json_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {"headers": {"content-type": "application/json"}, "body": json.dumps(payload, default=str)}


# Not log_event: a function URL event carries the caller's signed headers (its session token).
@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return answer(event)
