"""Where Snowflake is stricter than DuckDB: each test runs on the emulator with its strictness
patches (aurora_batch_dev.emulator_strictness) and checks what the loader must do on Snowflake."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from aurora_batch.config import TableOptions, settings_from_env
from aurora_batch.logic.invocation import run_table
from aurora_batch.wiring import Runtime

from tests.support.vault_secrets import TestSecrets

TIMES_DDL = """
CREATE TABLE {t} (
    id integer PRIMARY KEY,
    at_local timestamp,
    at_instant timestamptz,
    at_time time,
    doc json
)
"""
TIMES_ROWS = """
INSERT INTO {t} VALUES
(1, '2024-07-01 23:30:00.000001', '2024-07-01 23:30:00.000001+02', '23:30:00.000001', '{{"k": 1, "k": 2}}'),
(2, '2024-01-15 08:00:00', '2024-01-15 08:00:00-08', '00:00:00', '{{"a": {{"b": 1, "b": [true]}}}}')
"""
EXPECTED_TIMES = {
    1: (
        datetime(2024, 7, 1, 23, 30, 0, 1),
        datetime(2024, 7, 1, 21, 30, 0, 1, tzinfo=UTC),
        time(23, 30, 0, 1),
        {"k": 2},
    ),
    2: (datetime(2024, 1, 15, 8), datetime(2024, 1, 15, 16, tzinfo=UTC), time(0, 0), {"a": {"b": [True]}}),
}


def _pg(stack: Any, statement: str) -> None:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(statement)
        connection.commit()


def _target_rows(stack: Any, query: str) -> list[tuple[Any, ...]]:
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(query)
        return list(cursor.fetchall())
    finally:
        connection.close()


@pytest.mark.parametrize("staging_format", ["parquet", "csv"])
def test_timestamps_times_and_json_with_duplicate_keys_arrive_exactly(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str, staging_format: str
) -> None:
    import json

    table = f'"{pg_schema}".times'
    _pg(stack, TIMES_DDL.format(t=table))
    _pg(stack, TIMES_ROWS.format(t=table))
    runtime = Runtime(settings_from_env({**os.environ, "STAGING_FORMAT": staging_format}))

    report = run_table(TableOptions(schema_name=pg_schema, table_name="times", target_schema=sf_schema), runtime)

    assert report.to_dict()["status"] == "succeeded", report.to_dict()["error"]
    rows = _target_rows(
        stack, f'SELECT ID, AT_LOCAL, AT_INSTANT, AT_TIME, DOC FROM "ANALYTICS"."{sf_schema}"."TIMES" ORDER BY ID'
    )
    for key, local, instant, at_time, doc in rows:
        expected_local, expected_instant, expected_time, expected_doc = EXPECTED_TIMES[key]
        assert local == expected_local
        assert instant.tzinfo is not None
        assert instant.timestamp() == expected_instant.timestamp(), f"row {key}: {instant} is not {expected_instant}"
        assert at_time == expected_time
        assert json.loads(doc) == expected_doc


def test_every_loader_session_runs_in_utc(stack: Any, stack_env: dict[str, str]) -> None:
    session = Runtime(settings_from_env()).services().snowflake("fidelity-timezone")
    try:
        ((converted,),) = session.execute("SELECT '2024-01-01 12:00:00'::TIMESTAMP_NTZ::TIMESTAMP_TZ")
    finally:
        session.close()

    assert converted.timestamp() == datetime(2024, 1, 1, 12, tzinfo=UTC).timestamp()


@pytest.fixture
def test_secrets(stack: Any) -> Iterator[TestSecrets]:
    written = TestSecrets(stack)
    yield written
    written.delete_all()


def test_plain_database_and_schema_names_in_the_secret_resolve_upper_cased(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str, test_secrets: TestSecrets
) -> None:
    _pg(stack, f'CREATE TABLE "{pg_schema}".plain (id integer PRIMARY KEY, note text)')
    _pg(stack, f"INSERT INTO \"{pg_schema}\".plain VALUES (1, 'one'), (2, 'two')")
    credentials = {**stack.snowflake_credentials, "database": "analytics", "schema": "public"}
    path = test_secrets.write("snowflake-lowercase", credentials)
    runtime = Runtime(settings_from_env({**os.environ, "VAULT_SECRET_PATH_SNOWFLAKE": path}))

    options = TableOptions(schema_name=pg_schema, table_name="plain", target_schema=sf_schema)
    report = run_table(options, runtime).to_dict()

    assert report["status"] == "succeeded", report["error"]
    assert _target_rows(stack, f'SELECT ID, NOTE FROM "ANALYTICS"."{sf_schema}"."PLAIN" ORDER BY ID') == [
        (1, "one"),
        (2, "two"),
    ]


def test_a_quoted_database_name_is_case_sensitive_in_the_emulator(stack: Any) -> None:
    import snowflake.connector.errors

    connection = stack.snowflake_connect()
    try:
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
            connection.cursor().execute('SELECT COUNT(*) FROM "analytics".INFORMATION_SCHEMA.TABLES')
    finally:
        connection.close()


def test_parse_json_is_strict_about_duplicate_keys_unless_asked_not_to_be(stack: Any) -> None:
    import snowflake.connector.errors

    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match="duplicate"):
            cursor.execute("""SELECT PARSE_JSON('{"a": 1, "a": 2}')""")
        cursor.execute("""SELECT PARSE_JSON('{"a": 1, "b": {"a": 2}}'), PARSE_JSON('  ')""")
        assert cursor.fetchone()[1] is None
    finally:
        connection.close()


def test_names_that_need_quoting_load_end_to_end(stack: Any, stack_env: dict[str, str], sf_schema: str) -> None:
    admin = stack.pg_connect(superuser=True)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute('DROP SCHEMA IF EXISTS "Sales Ops" CASCADE')
        cursor.execute(f'CREATE SCHEMA "Sales Ops" AUTHORIZATION "{stack.pg.user}"')
    _pg(stack, 'CREATE TABLE "Sales Ops"."Order Items" ("Item Id" integer PRIMARY KEY, "Qty" numeric(5,1))')
    _pg(stack, 'INSERT INTO "Sales Ops"."Order Items" VALUES (1, 2.5), (2, 10)')
    try:
        options = TableOptions(schema_name="Sales Ops", table_name="Order Items", target_schema=sf_schema)
        for _ in range(2):  # the first run creates the target, the second loads into it again
            report = run_table(options, Runtime(settings_from_env())).to_dict()
            assert report["status"] == "succeeded", report["error"]
    finally:
        with admin.cursor() as cursor:
            cursor.execute('DROP SCHEMA "Sales Ops" CASCADE')
        admin.close()

    rows = _target_rows(stack, f'SELECT "Item Id", "Qty" FROM "ANALYTICS"."{sf_schema}"."Order Items" ORDER BY 1')
    assert rows == [(1, Decimal("2.5")), (2, Decimal("10.0"))]


def test_numeric_scales_snowflake_lacks_map_to_a_valid_number(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str
) -> None:
    table = f'"{pg_schema}".scales'
    _pg(stack, f"CREATE TABLE {table} (id integer PRIMARY KEY, hundreds numeric(3,-2), tiny numeric(3,5))")
    _pg(stack, f"INSERT INTO {table} VALUES (1, 99949, 0.00999), (2, -1234, -0.000011), (3, NULL, NULL)")

    report = run_table(
        TableOptions(schema_name=pg_schema, table_name="scales", target_schema=sf_schema),
        Runtime(settings_from_env()),
    ).to_dict()

    assert report["status"] == "succeeded", report["error"]
    rows = _target_rows(stack, f'SELECT ID, HUNDREDS, TINY FROM "ANALYTICS"."{sf_schema}"."SCALES" ORDER BY ID')
    assert rows == [(1, 99900, Decimal("0.00999")), (2, -1200, Decimal("-0.00001")), (3, None, None)]


def test_a_csv_copy_with_formats_left_on_auto_fails_as_on_an_account_with_other_input_formats(stack: Any) -> None:
    """The loader's CSV COPY pins DATE_FORMAT, TIME_FORMAT and TIMESTAMP_FORMAT; left on AUTO, an
    account-level input format would decide how ISO values read, so the emulator refuses it."""
    import snowflake.connector.errors
    from aurora_batch.logic.load import copy_into_sql

    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute("CREATE OR REPLACE TRANSIENT TABLE CSV_AUTO_PROBE (ID NUMBER(38,0), SEEN TIMESTAMP_NTZ)")
        pinned = copy_into_sql("CSV_AUTO_PROBE", stack.snowflake_stage, ["probe/none.csv.gz"], "csv")
        on_auto = pinned
        for name in ("DATE_FORMAT", "TIME_FORMAT", "TIMESTAMP_FORMAT"):
            on_auto = re.sub(rf"\s{name} = '[^']*'", "", on_auto)
        assert on_auto != pinned
        # The loader's own CSV loads (pinned) run end to end in tests/integration/test_loading.py.
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match="left on AUTO"):
            cursor.execute(on_auto)
    finally:
        connection.close()
