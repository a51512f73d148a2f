"""What a replication run through the Lambda handler tells CloudWatch and X-Ray: the EMF metrics
document printed on stdout, the JSON log lines, and one tracer subsegment per phase."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aws_xray_sdk
import boto3
import pytest
from aurora_batch import observability
from aurora_batch.adapters.state_store import StateStore
from aurora_batch.logic.invocation import RunFailedError
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.context import Context

from tests.support.lambda_fakes import FakeLambdaContext, load_event

ROWS, NULL_ROWS = 100, 7
# The newest row is an hour and a minute old, so the lag is a little over 3660 seconds.
ORDERS_DDL = """
CREATE TABLE {schema}.orders (id bigint PRIMARY KEY, amount numeric(12,2), updated_at timestamptz);
INSERT INTO {schema}.orders
SELECT g, g * 1.25, now() - interval '1 hour' - g * interval '1 minute' FROM generate_series(1, 100) AS g;
INSERT INTO {schema}.orders SELECT g, 0, NULL FROM generate_series(101, 107) AS g;
"""
RUN_METRICS = {
    "RowsExtracted": "Count",
    "RowsLoaded": "Count",
    "BytesStaged": "Bytes",
    "RunDurationSeconds": "Seconds",
    "ReplicationLagSeconds": "Seconds",
    "NullWatermarkRows": "Count",
    "RunFailed": "Count",
    "KeyCountDifference": "Count",
    "VerifyDue": "Count",
}


@pytest.fixture
def orders(pg_tables: Callable[[str], str]) -> str:
    return pg_tables(ORDERS_DDL)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The Powertools log handler's output (it keeps the stdout it found at import time)."""
    handler = observability.logger.registered_handler
    original = getattr(handler, "stream", None)
    buffer = io.StringIO()
    observability.set_log_stream(buffer)
    yield buffer
    if original is not None:
        observability.set_log_stream(original)


@pytest.fixture
def incremental_event(orders: str, sf_schema: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("TABLES", json.dumps({f"{orders}.orders": {"target_schema": sf_schema}}))
    event = {**load_event("replication_manual_incremental.json"), "schema_name": orders}
    del event["last_value"]
    return event


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [document for document in documents if "_aws" in document]


def the_metrics(stdout: str, table: str) -> tuple[dict[str, str], dict[str, float]]:
    """(metric name -> unit, metric name -> value) of the one EMF document, after checking its
    namespace and table dimension."""
    documents = emf_documents(stdout)
    assert len(documents) == 1, stdout
    document = documents[0]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "AuroraBatch"
    assert any("table" in dimension_set for dimension_set in directive["Dimensions"])
    assert document["table"] == table
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    values = {name: _single(document[name]) for name in units}
    return units, values


def _single(value: Any) -> float:
    if isinstance(value, list):
        assert len(value) == 1
        return float(value[0])
    return float(value)


def test_a_run_emits_every_metric_with_sane_values(
    replication_handler: Any,
    orders: str,
    incremental_event: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    report = replication_handler.lambda_handler(incremental_event, FakeLambdaContext())
    finished = datetime.now(UTC)

    assert report["status"] == "succeeded", report.get("error")
    units, values = the_metrics(capsys.readouterr().out, f"{orders}.orders")
    assert units == RUN_METRICS
    assert values["RowsExtracted"] == values["RowsLoaded"] == report["rows_extracted"] == ROWS
    assert values["BytesStaged"] == report["bytes_staged"] > 0
    assert 0 < values["RunDurationSeconds"] == report["duration_seconds"]
    assert values["NullWatermarkRows"] == NULL_ROWS
    assert values["RunFailed"] == 0
    # The drift signal: the NULL-watermark rows are in neither count.
    assert values["KeyCountDifference"] == report["key_count_difference"] == 0
    assert values["VerifyDue"] == 0
    newest = datetime.fromisoformat(report["watermark_after"])
    assert values["ReplicationLagSeconds"] == pytest.approx((finished - newest).total_seconds(), abs=5)
    assert 3660 <= values["ReplicationLagSeconds"] < 3660 + 300


def test_a_locked_run_emits_run_locked(
    stack: Any,
    replication_handler: Any,
    orders: str,
    incremental_event: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = StateStore(stack.state_table, boto3.client("dynamodb", endpoint_url=stack.moto_endpoint))
    lease = store.acquire_lease(f"{orders}.orders", "20260101T000000Z-holder00", 900)
    capsys.readouterr()
    try:
        report = replication_handler.lambda_handler(incremental_event, FakeLambdaContext())
    finally:
        store.release_lease(lease)

    assert report["status"] == "locked"
    units, values = the_metrics(capsys.readouterr().out, f"{orders}.orders")
    assert units == {"RunLocked": "Count"}
    assert values == {"RunLocked": 1}


def test_a_failed_run_emits_run_failed_and_logs_the_failing_phase(
    replication_handler: Any,
    pg_schema: str,
    sf_schema: str,
    capsys: pytest.CaptureFixture[str],
    log_lines: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TABLES", json.dumps({f"{pg_schema}.no_such_table": {"target_schema": sf_schema}}))
    event = {"schema_name": pg_schema, "table_name": "no_such_table"}
    capsys.readouterr()

    with pytest.raises(RunFailedError) as raised:
        replication_handler.lambda_handler(event, FakeLambdaContext())

    _, values = the_metrics(capsys.readouterr().out, f"{pg_schema}.no_such_table")
    assert values["RunFailed"] == 1
    run_id = raised.value.fields["run_id"]
    failures = [line for line in map(json.loads, log_lines.getvalue().splitlines()) if line["message"] == "run failed"]
    assert len(failures) == 1
    assert failures[0]["correlation_id"] == run_id
    assert failures[0]["table"] == f"{pg_schema}.no_such_table"
    assert failures[0]["phase"] == "plan"


def test_every_log_line_is_json_with_the_run_as_correlation_id_and_table_and_phase(
    replication_handler: Any, orders: str, incremental_event: dict[str, Any], log_lines: io.StringIO
) -> None:
    report = replication_handler.lambda_handler(incremental_event, FakeLambdaContext())

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert lines
    for line in lines:
        assert line["correlation_id"] == line["run_id"] == report["run_id"]
        assert line["table"] == f"{orders}.orders"
        assert line["phase"]
        assert line["function_request_id"] == FakeLambdaContext().aws_request_id
    finished = {line["phase"]: line["seconds"] for line in lines if line["message"] == "phase finished"}
    assert finished.keys() == report["phases"].keys()


class CapturingEmitter:
    """Receives the X-Ray segments the recorder would send to the daemon."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.entities.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str) -> None:
        return None


@pytest.fixture
def xray_segments() -> Iterator[CapturingEmitter]:
    """The X-Ray SDK switched on (the tracer disables it outside Lambda), sending to a list."""
    emitter = CapturingEmitter()
    saved_context, saved_emitter = xray_recorder.context, xray_recorder.emitter
    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(context=Context(), emitter=emitter, sampling=False)
    try:
        yield emitter
    finally:
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(False)
        xray_recorder.configure(context=saved_context, emitter=saved_emitter)


def _subsegments(entity: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for child in entity.get("subsegments", []):
        yield child
        yield from _subsegments(child)


def test_each_phase_is_a_tracer_subsegment(
    replication_handler: Any, incremental_event: dict[str, Any], xray_segments: CapturingEmitter
) -> None:
    xray_recorder.begin_segment("invocation")
    report = replication_handler.lambda_handler(incremental_event, FakeLambdaContext())
    xray_recorder.end_segment()

    traced = [sub for entity in xray_segments.entities for sub in [entity, *_subsegments(entity)]]
    phases = {sub["name"]: sub["annotations"]["phase"] for sub in traced if "phase" in sub.get("annotations", {})}
    assert phases == {f"## {phase}": phase for phase in report["phases"]}
    assert all(sub["end_time"] >= sub["start_time"] for sub in traced)
