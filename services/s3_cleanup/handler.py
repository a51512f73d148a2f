"""S3 cleanup Lambda: deletes old staged files, never those of a run still in progress.

Thin by design: Powertools decorators, parse event and config, one call into `shared`,
shape the result. It imports nothing that needs pyarrow, the Snowflake connector, psycopg2
or hvac (its zip ships none of them): wiring_light, not wiring."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aurora_batch.config import ops_settings_from_env
from aurora_batch.logic.cleanup import CleanupRequest, run_cleanup
from aurora_batch.observability import logger, set_log_level, tracer
from aurora_batch.wiring_light import OpsRuntime
from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def runtime() -> OpsRuntime:
    """Parsed once per cold start."""
    settings = ops_settings_from_env()
    set_log_level(settings.log_level)
    return OpsRuntime(settings)


def now() -> datetime:
    """The clock the age is measured against (tests replace it: S3 stamps objects with the real time)."""
    return datetime.now(UTC)


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CleanupRequest.from_event(event)
    ops = runtime()
    staging = ops.staging()
    try:
        return run_cleanup(request, staging, ops.state, ops.settings.staging_prefix, now=now())
    finally:
        staging.close()
