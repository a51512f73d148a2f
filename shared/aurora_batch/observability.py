"""Powertools, configured in one place: structured JSON logs with run_id as the correlation
id and table/phase on every line, EMF metrics under the AuroraBatch namespace, and a tracer
with one subsegment per phase."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "AuroraBatch"
SERVICE = "aurora-batch"

# Powertools reads its own POWERTOOLS_* variables itself.
logger = Logger(service=SERVICE, use_rfc3339=True)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# The tracer disables itself outside Lambda.
tracer = Tracer(service=SERVICE)
# The package's standard-library loggers write through the same JSON handler (same keys). Only
# loggers that exist are configured, so create the package's parent logger first.
logging.getLogger("aurora_batch")
copy_config_to_registered_loggers(source_logger=logger, include={"aurora_batch"})


def set_log_level(level: str) -> None:
    logger.setLevel(level.upper())
    logging.getLogger("aurora_batch").setLevel(level.upper())


def set_log_stream(stream: TextIO) -> None:
    """Where log lines go (stdout in Lambda; the CLI keeps stdout for its report)."""
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


def bind_run(run_id: str, table: str) -> None:
    """Every later log line carries the run and the table, and the phase ("run" outside the named ones)."""
    logger.set_correlation_id(run_id)
    logger.append_keys(run_id=run_id, table=table, phase="run")


def bind_phase(phase: str) -> None:
    logger.append_keys(phase=phase)


@contextlib.contextmanager
def traced_phase(phase: str) -> Iterator[None]:
    """A tracer subsegment and the `phase` log key for the block. The enclosing phase comes back
    when the block ends normally; after an error the key keeps naming the phase that failed."""
    outer = logger.get_current_keys().get("phase")
    bind_phase(phase)
    started = time.perf_counter()
    with tracer.provider.in_subsegment(f"## {phase}") as subsegment:
        if subsegment is not None and hasattr(subsegment, "put_annotation"):
            subsegment.put_annotation("phase", phase)
        yield
    logger.info("phase finished", extra={"seconds": round(time.perf_counter() - started, 3)})
    if outer is None:
        logger.remove_keys(["phase"])
    else:
        bind_phase(outer)


def emit_run_metrics(report: dict[str, Any], now: datetime | None = None) -> None:
    """Emit the run's metrics with its table dimension, flushed at once: one invocation (or one
    CLI process) may replicate several tables, and each needs its own dimension value."""
    try:
        _add_run_metrics(report, now)
    finally:
        metrics.flush_metrics()


def _add_run_metrics(report: dict[str, Any], now: datetime | None) -> None:
    table = report["table"]
    metrics.add_dimension(name="table", value=table)
    status = report.get("status")
    if status == "locked":
        metrics.add_metric(name="RunLocked", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1 if status == "failed" else 0)
    metrics.add_metric(name="RowsExtracted", unit=MetricUnit.Count, value=report.get("rows_extracted", 0))
    metrics.add_metric(name="RowsLoaded", unit=MetricUnit.Count, value=report.get("rows_loaded", 0))
    metrics.add_metric(name="BytesStaged", unit=MetricUnit.Bytes, value=report.get("bytes_staged", 0))
    metrics.add_metric(name="RunDurationSeconds", unit=MetricUnit.Seconds, value=report.get("duration_seconds", 0))
    metrics.add_metric(name="NullWatermarkRows", unit=MetricUnit.Count, value=report.get("null_watermark_rows", 0))
    difference = report.get("key_count_difference")
    if difference is not None:  # the cheap drift signal: target rows minus source rows up to the watermark
        metrics.add_metric(name="KeyCountDifference", unit=MetricUnit.Count, value=difference)
        metrics.add_metric(name="VerifyDue", unit=MetricUnit.Count, value=1 if report.get("verify_due") else 0)
    lag = replication_lag_seconds(report.get("watermark_after"), now)
    if lag is not None:
        metrics.add_metric(name="ReplicationLagSeconds", unit=MetricUnit.Seconds, value=lag)


def emit_verify_metrics(report: dict[str, Any]) -> None:
    """A verify's findings with its table dimension: the rows that differed, what the repair fixed,
    the drift left after it (alarmed on), and the time it took."""
    try:
        metrics.add_dimension(name="table", value=report["table"])
        if report.get("status") == "locked":
            return
        metrics.add_metric(
            name="VerifyFailed", unit=MetricUnit.Count, value=1 if report.get("status") == "failed" else 0
        )
        for name, key in (
            ("VerifyMissingRows", "missing"),
            ("VerifyDeletedRows", "deleted"),
            ("VerifyChangedRows", "changed"),
            ("VerifyRepairedRows", "repaired_merged"),
            ("VerifyRepairedDeletes", "repaired_deleted"),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=report.get(key) or 0)
        remaining = report.get("remaining")
        if remaining is not None:
            metrics.add_metric(name="VerifyDriftAfterRepair", unit=MetricUnit.Count, value=remaining)
        metrics.add_metric(
            name="VerifyDurationSeconds", unit=MetricUnit.Seconds, value=report.get("duration_seconds", 0)
        )
    finally:
        metrics.flush_metrics()


def replication_lag_seconds(watermark: str | None, now: datetime | None = None) -> float | None:
    """Now minus the watermark, for time watermarks; None for integer watermarks."""
    if not watermark or watermark.lstrip("+-").isdigit():
        return None
    moment = datetime.fromisoformat(watermark)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, round(((now or datetime.now(UTC)) - moment).total_seconds(), 3))
