"""The first end-to-end replication, driven as a user would: the Lambda handler with the seed's
manual event, and the CLI. Everything behind them is real: PostgreSQL, OpenBao, moto S3 and
DynamoDB, and the Snowflake emulator reached over HTTP by the real connector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import boto3
import pytest

from tests.support.lambda_fakes import FakeLambdaContext, load_event, load_handler

CUSTOMERS_DDL = """
CREATE TABLE {schema}.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    balance numeric(12,2),
    signed_up timestamptz,
    prefs jsonb,
    active boolean,
    ref uuid
);
INSERT INTO {schema}.customers
SELECT g, 'name ' || g, g / 4.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour',
       jsonb_build_object('k', g), g % 2 = 0, md5(g::text)::uuid
FROM generate_series(1, 500) AS g;
"""


@pytest.fixture
def customers(stack: Any, pg_schema: str) -> str:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(CUSTOMERS_DDL.format(schema=f'"{pg_schema}"'))
        connection.commit()
    return pg_schema


def _target_rows(stack: Any, sf_schema: str) -> list[tuple[Any, ...]]:
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(
            f'SELECT "ID", "NAME", "BALANCE", "PREFS":k::NUMBER, "ACTIVE", "REF" '
            f'FROM "ANALYTICS"."{sf_schema}"."CUSTOMERS" ORDER BY "ID"'
        )
        return list(cursor.fetchall())
    finally:
        connection.close()


def test_handler_replicates_the_seed_manual_event(
    stack: Any, stack_env: dict[str, str], customers: str, sf_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLES", json.dumps({f"{customers}.customers": {"target_schema": sf_schema}}))
    handler = load_handler("replication")
    handler.runtime.cache_clear()
    event = {**load_event("replication_manual.json"), "schema_name": customers}

    report = handler.lambda_handler(event, FakeLambdaContext())

    assert report["status"] == "succeeded", report.get("error")
    assert report["rows_extracted"] == report["rows_staged"] == report["rows_loaded"] == 500
    assert report["bytes_staged"] > 0
    assert report["validation"]["target"]["count"] == "500"
    rows = _target_rows(stack, sf_schema)
    assert len(rows) == 500
    assert rows[0] == (1, "name 1", Decimal("0.25"), 1, False, "c4ca4238-a0b9-2382-0dcc-509a6f75849b")
    # The run's files are gone from the staging prefix once every part has loaded.
    s3 = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=stack.staging_bucket, Prefix=f"{stack.staging_prefix}/{customers}.customers/")
    assert listed.get("KeyCount", 0) == 0


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aurora_batch.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_replicates_a_table_and_exits_zero(
    stack: Any, stack_env: dict[str, str], customers: str, sf_schema: str
) -> None:
    env = {**stack_env, "TABLES": f'{{"{customers}.customers": {{"target_schema": "{sf_schema}"}}}}'}
    result = _cli(["replicate", "--table", f"{customers}.customers"], env)

    assert result.returncode == 0, result.stderr
    assert f"{customers}.customers" in result.stdout
    assert "succeeded" in result.stdout
    assert len(_target_rows(stack, sf_schema)) == 500


def test_cli_fails_with_a_one_line_reason_for_a_missing_table(stack: Any, stack_env: dict[str, str]) -> None:
    # Listed in configuration (an unlisted table is refused before any connection), but absent.
    result = _cli(["replicate", "--table", "public.no_such_table"], {**stack_env, "TABLE_NAME": "no_such_table"})

    assert result.returncode == 1
    reason = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(reason) == 1
    assert "public.no_such_table" in reason[0]
    assert "does not exist" in reason[0]
