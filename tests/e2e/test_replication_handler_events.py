"""The replication Lambda with each kind of event it accepts, against the local stack: the
EventBridge schedule (table from TABLE_NAME), the rule's constant input, the manual event with
its overrides, and a multi-table event that fans out one asynchronous invocation per table
(delivered by a fake Lambda service, then drained through the same handler)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from aurora_batch.config import settings_from_env
from aurora_batch.model import snowflake_name
from aurora_batch.wiring import Runtime

from tests.support.lambda_fakes import FakeLambdaContext, FakeLambdaService, load_event

ORDERS = 300  # updated_at = 2024-01-01 + id hours
CUSTOMERS = 200
NEWEST_ORDER = datetime.fromisoformat("2024-01-13T12:00:00+00:00")
REPORT_FIELDS = {
    "run_id",
    "table",
    "mode",
    "status",
    "rows_extracted",
    "rows_staged",
    "rows_loaded",
    "bytes_staged",
    "watermark_before",
    "watermark_after",
    "phases",
}

TABLES_DDL = """
CREATE TABLE {schema}.orders (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, updated_at timestamptz);
INSERT INTO {schema}.orders
SELECT g, g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 300) AS g;
CREATE TABLE {schema}.customers (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO {schema}.customers SELECT g, 'customer ' || g FROM generate_series(1, 200) AS g;
"""


@pytest.fixture
def tables(pg_tables: Callable[[str], str]) -> str:
    return pg_tables(TABLES_DDL)


def check_report(report: dict[str, Any], table: str, mode: str, rows: int) -> None:
    assert report["status"] == "succeeded", report.get("error")
    assert report.keys() >= REPORT_FIELDS
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", report["run_id"])
    assert (report["table"], report["mode"]) == (table, mode)
    assert report["rows_extracted"] == report["rows_staged"] == report["rows_loaded"] == rows
    assert report["bytes_staged"] > 0
    # A full refresh commits with INSERT OVERWRITE by default (full_refresh_strategy).
    commit = "overwrite" if mode == "full" else "merge"
    assert report["phases"].keys() >= {"plan", "extract", "copy", "validate", commit}
    assert all(seconds >= 0 for seconds in report["phases"].values())


def at(watermark: str | None) -> datetime | None:
    return None if watermark is None else datetime.fromisoformat(watermark)


@pytest.fixture
def scheduled_table(stack: Any, tables: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A table named only by TABLE_NAME/SCHEMA_NAME, as a per-table function's environment does.
    Its target lands in the Snowflake credentials' default schema, so its name is unique."""
    name = f"scheduled_{secrets.token_hex(4)}"
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{tables}"."{name}" AS SELECT * FROM "{tables}".customers')
        cursor.execute(f'ALTER TABLE "{tables}"."{name}" ADD PRIMARY KEY (id)')
    monkeypatch.setenv("SCHEMA_NAME", tables)
    monkeypatch.setenv("TABLE_NAME", name)
    yield name
    connection = stack.snowflake_connect()
    try:
        target = f'"{stack.snowflake_database}"."{stack.snowflake_schema}"."{snowflake_name(name)}"'
        connection.cursor().execute(f"DROP TABLE IF EXISTS {target}")
    finally:
        connection.close()


def test_scheduled_event_replicates_the_table_named_by_the_environment(
    replication_handler: Any, tables: str, scheduled_table: str
) -> None:
    report = replication_handler.lambda_handler(load_event("replication_scheduled.json"), FakeLambdaContext())

    check_report(report, f"{tables}.{scheduled_table}", "full", CUSTOMERS)


def configure(monkeypatch: pytest.MonkeyPatch, schema: str, sf_schema: str, **tables: dict[str, Any]) -> None:
    """TABLES for this test: each table's options, landing in the test's Snowflake schema. An event
    names tables only; their options are configuration."""
    entries = {f"{schema}.{name}": {"target_schema": sf_schema, **options} for name, options in tables.items()}
    monkeypatch.setenv("TABLES", json.dumps(entries))


def test_the_rules_single_table_input_replicates_that_table(
    replication_handler: Any, tables: str, sf_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, tables, sf_schema, customers={"mode": "full"})
    customers = load_event("replication_rule_input.json")["tables"][0]
    event = {"tables": [{**customers, "schema_name": tables}]}

    report = replication_handler.lambda_handler(event, FakeLambdaContext())

    check_report(report, f"{tables}.customers", "full", CUSTOMERS)


def test_manual_events_with_last_value_mode_and_full_refresh(
    replication_handler: Any, tables: str, sf_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, tables, sf_schema, orders={})
    incremental = {**load_event("replication_manual_incremental.json"), "schema_name": tables}
    first_run = {key: value for key, value in incremental.items() if key != "last_value"}

    first = replication_handler.lambda_handler(first_run, FakeLambdaContext())
    check_report(first, f"{tables}.orders", "incremental", ORDERS)
    assert (first["watermark_before"], at(first["watermark_after"])) == (None, NEWEST_ORDER)

    # last_value re-reads from 2024-01-10 00:00 (id 216) on, for this run only: the watermark stays.
    reread = replication_handler.lambda_handler(incremental, FakeLambdaContext())
    check_report(reread, f"{tables}.orders", "incremental", ORDERS - 215)
    assert at(reread["watermark_before"]) == at(reread["watermark_after"]) == NEWEST_ORDER

    full_refresh = {**load_event("replication_manual_full_refresh.json"), "schema_name": tables}
    reloaded = replication_handler.lambda_handler(full_refresh, FakeLambdaContext())
    check_report(reloaded, f"{tables}.orders", "full", ORDERS)
    assert at(reloaded["watermark_after"]) == NEWEST_ORDER


def test_a_multi_table_event_fans_out_one_async_invocation_per_table(
    replication_handler: Any, tables: str, sf_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(
        monkeypatch,
        tables,
        sf_schema,
        customers={"mode": "full"},
        orders={"mode": "incremental", "incremental_column": "updated_at", "lookback_seconds": 300},
    )
    lambda_service = FakeLambdaService()
    runtime = Runtime(settings_from_env(), lambda_client=lambda_service)
    monkeypatch.setattr(replication_handler, "runtime", lambda: runtime)
    rule_input = load_event("replication_rule_input.json")
    event = {"tables": [{**entry, "schema_name": tables} for entry in rule_input["tables"]]}
    context = FakeLambdaContext()

    fanned = replication_handler.lambda_handler(event, context)

    assert fanned == {"status": "fanned_out", "tables": [f"{tables}.customers", f"{tables}.orders"]}
    assert [(call["function"], call["type"]) for call in lambda_service.invocations] == [
        (context.invoked_function_arn, "Event"),
        (context.invoked_function_arn, "Event"),
    ]
    payloads = [call["payload"] for call in lambda_service.invocations]
    # Each fanned-out event names its table only; the receiver reads the options from configuration.
    assert payloads == [
        {"schema_name": tables, "table_name": "customers"},
        {"schema_name": tables, "table_name": "orders"},
    ]

    reports = lambda_service.drain(replication_handler.lambda_handler, FakeLambdaContext)

    check_report(reports[0], f"{tables}.customers", "full", CUSTOMERS)
    check_report(reports[1], f"{tables}.orders", "incremental", ORDERS)
    assert lambda_service.invocations == []


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_run_near_the_lambda_time_limit_continues_in_a_new_invocation(
    replication_handler: Any, stack: Any, tables: str, sf_schema: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PART_TARGET_ROWS", "50")
    monkeypatch.setenv("TIME_MARGIN_SECONDS", "60")
    configure(monkeypatch, tables, sf_schema, orders={"batch_size": 50})
    lambda_service = FakeLambdaService()
    runtime = Runtime(settings_from_env(), lambda_client=lambda_service)
    monkeypatch.setattr(replication_handler, "runtime", lambda: runtime)
    event = {"schema_name": tables, "table_name": "orders", "mode": mode}
    if mode == "incremental":
        event["incremental_column"] = "updated_at"

    def nearly_out_of_time() -> FakeLambdaContext:
        return FakeLambdaContext(timeout_seconds=30)  # less than the margin: stop at the first part

    first = replication_handler.lambda_handler(event, nearly_out_of_time())
    assert first["status"] == "continued"
    (call,) = lambda_service.invocations
    assert call["type"] == "Event"
    assert call["function"] == nearly_out_of_time().invoked_function_arn
    assert (call["payload"]["schema_name"], call["payload"]["table_name"]) == (tables, "orders")
    assert call["payload"]["continuation"] is True
    assert not set(call["payload"]) - {"schema_name", "table_name", "mode", "incremental_column", "continuation"}

    reports = [first]
    while lambda_service.invocations:
        reports += lambda_service.drain(replication_handler.lambda_handler, nearly_out_of_time)
    assert reports[-1]["status"] == "succeeded"
    assert {r["status"] for r in reports[:-1]} == {"continued"}
    assert len(reports) >= ORDERS // 50
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f'SELECT COUNT(*), COUNT(DISTINCT "ID"), SUM("AMOUNT") FROM "ANALYTICS"."{sf_schema}"."ORDERS"')
        count, distinct, total = cursor.fetchone()
    finally:
        connection.close()
    assert (count, distinct) == (ORDERS, ORDERS)
    assert float(total) == sum(i * 1.25 for i in range(1, ORDERS + 1))
