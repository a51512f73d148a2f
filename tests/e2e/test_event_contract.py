"""The trust boundary, against the local stack: an event selects, configuration decides.

Each attack an invoker with only lambda:InvokeFunction could try is replayed through the
replication handler and, where the CLI can express it, through `aurora-batch replicate`. Each is
refused with an error naming the key or the table, and changes nothing: the source rows, the
Snowflake schema, the state (watermark, version, run history) and the staged S3 objects are as
they were. A dry run prints the plan and changes nothing either."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aurora_batch.config import settings_from_env
from aurora_batch.errors import ConfigError, RunFailedError
from aurora_batch.wiring import Runtime

from tests.support.lambda_fakes import FakeLambdaContext
from tests.support.terminal import CLI, RUN_SECONDS

ROWS = 40  # updated_at = 2024-01-01 + id hours
NEWEST = "2024-01-02T16:00:00+00:00"
DDL = """
CREATE TABLE {schema}.people (id bigint PRIMARY KEY, email text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO {schema}.people
SELECT g, 'person' || g || '@example.com', timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 40) AS g;
CREATE TABLE {schema}.victim (id int);
CREATE TABLE {schema}.unlisted (id bigint PRIMARY KEY);
INSERT INTO {schema}.unlisted SELECT generate_series(1, 5);
"""


@pytest.fixture
def schema(pg_tables: Callable[[str], str], sf_schema: str, monkeypatch: pytest.MonkeyPatch) -> str:
    created = pg_tables(DDL)
    people = {
        "target_schema": sf_schema,
        "mode": "incremental",
        "incremental_column": "updated_at",
        "masking": {"email": {"rule": "null"}},
    }
    monkeypatch.setenv("TABLES", json.dumps({f"{created}.people": people}))
    return created


def world(stack: Any, schema: str, sf_schema: str) -> dict[str, Any]:
    """Everything an event could change: source, target, state and staged objects."""
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*), sum(id), max(email) FROM "{schema}".people')
        people = cursor.fetchone()
        cursor.execute(f'SELECT count(*) FROM "{schema}".victim')
        victims = cursor.fetchone()
    snowflake = stack.snowflake_connect()
    try:
        cursor = snowflake.cursor()
        cursor.execute(
            f"SELECT TABLE_NAME FROM {stack.snowflake_database}.INFORMATION_SCHEMA.TABLES "
            f"WHERE TABLE_SCHEMA = '{sf_schema}' ORDER BY TABLE_NAME"
        )
        tables = [row[0] for row in cursor.fetchall()]
        rows = None
        if "PEOPLE" in tables:
            cursor.execute(f'SELECT COUNT(*), COUNT("EMAIL"), MAX("UPDATED_AT") FROM "{sf_schema}"."PEOPLE"')
            rows = cursor.fetchone()
    finally:
        snowflake.close()
    runtime = Runtime(settings_from_env())
    states = {}
    for name in ("people", "unlisted"):
        state = runtime.state.get(f"{schema}.{name}")
        states[name] = (
            state.watermark,
            state.version,
            state.checkpoint,
            state.lease_token,
            runtime.state.run_history(f"{schema}.{name}"),
        )
    s3 = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=stack.staging_bucket).get("Contents", [])
    objects = sorted((o["Key"], o["ETag"]) for o in listed)
    return {"source": (people, victims), "tables": tables, "target": rows, "state": states, "s3": objects}


def cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [CLI, *args], env=dict(os.environ), capture_output=True, text=True, timeout=RUN_SECONDS, check=False
    )


def first_run(replication_handler: Any, schema: str) -> dict[str, Any]:
    report: dict[str, Any] = replication_handler.lambda_handler(
        {"schema_name": schema, "table_name": "people"}, FakeLambdaContext()
    )
    assert report["status"] == "succeeded", report.get("error")
    assert report["rows_loaded"] == ROWS
    return report


def attacks(schema: str) -> list[tuple[str, dict[str, Any], str]]:
    """(id, event, what the refusal names)."""
    people = {"schema_name": schema, "table_name": "people"}
    return [
        ("stacked-where", {**people, "where": f'true; COMMIT; INSERT INTO "{schema}".victim VALUES (1)'}, "where"),
        ("masking-override", {**people, "masking": {"email": {"rule": "mask", "keep_last": 100000}}}, "masking"),
        ("masking-removed", {**people, "masking": {}}, "masking"),
        ("transform-path", {**people, "transform": "itertools.cycle"}, "transform"),
        ("target-table", {**people, "target_table": "ACCOUNTS", "target_schema": "PUBLIC"}, "target_table"),
        ("merge-keys", {**people, "merge_keys": ["email"]}, "merge_keys"),
        ("batch-size", {**people, "batch_size": 1}, "batch_size"),
        ("lookback", {**people, "lookback_seconds": 0}, "lookback_seconds"),
        ("columns", {**people, "exclude_columns": ["email"]}, "exclude_columns"),
        ("entry-option", {"tables": [{**people, "rename_columns": {"email": "e"}}]}, "rename_columns"),
        ("unlisted-full-refresh", {"schema_name": schema, "table_name": "unlisted", "full_refresh": True}, "unlisted"),
        ("unlisted-in-list", {"tables": [f"{schema}.people", f"{schema}.unlisted"]}, "unlisted"),
        ("last-value-above", {**people, "last_value": "2030-01-01T00:00:00+00:00"}, "last_value"),
        ("unknown-key", {**people, "colour": "blue"}, "colour"),
        ("oversize-list", {"tables": [f"{schema}.people"] * 201}, "tables"),
        ("oversize-value", {**people, "last_value": "2024-01-01" + " " * 100}, "last_value"),
        ("oversize-name", {"schema_name": schema, "table_name": "p" * 300}, "table_name"),
    ]


def test_every_event_side_attack_is_refused_by_the_handler_and_changes_nothing(
    stack: Any, replication_handler: Any, schema: str, sf_schema: str
) -> None:
    first_run(replication_handler, schema)
    before = world(stack, schema, sf_schema)
    assert before["target"][0] == ROWS and before["target"][1] == 0  # email masked to NULL by TABLES

    for name, event, named in attacks(schema):
        with pytest.raises((ConfigError, RunFailedError)) as refused:
            replication_handler.lambda_handler(event, FakeLambdaContext())
        assert named in str(refused.value), name
        assert world(stack, schema, sf_schema) == before, name


def test_the_cli_refuses_the_attacks_it_can_express_and_changes_nothing(
    stack: Any, stack_env: dict[str, str], replication_handler: Any, schema: str, sf_schema: str
) -> None:
    first_run(replication_handler, schema)
    before = world(stack, schema, sf_schema)
    people = f"{schema}.people"
    cases = [
        (["--table", people, "--last-value", "2030-01-01T00:00:00+00:00"], "last_value"),
        (["--table", f"{schema}.unlisted", "--full-refresh"], f"{schema}.unlisted"),
        (["--table", people, "--where", "true; COMMIT; INSERT INTO victim VALUES (1)"], "--where"),
        (["--table", people, "--masking", "{}"], "--masking"),
        (["--table", people, "--transform", "itertools.cycle"], "--transform"),
        (["--table", people, "--target-table", "ACCOUNTS"], "--target-table"),
    ]
    for args, named in cases:
        result = cli(["replicate", *args])
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert named in result.stderr, (args, result.stderr)
        assert world(stack, schema, sf_schema) == before, args


def test_last_value_may_lower_the_bound_for_a_backfill(
    stack: Any, replication_handler: Any, schema: str, sf_schema: str
) -> None:
    first_run(replication_handler, schema)
    event = {"schema_name": schema, "table_name": "people", "last_value": "2024-01-02T00:00:00+00:00"}

    report = replication_handler.lambda_handler(event, FakeLambdaContext())

    assert report["status"] == "succeeded", report.get("error")
    assert report["rows_extracted"] == ROWS - 23  # from id 24 (2024-01-02 00:00) on
    assert report["watermark_before"] == report["watermark_after"]


def test_a_dry_run_prints_the_plan_and_changes_nothing(
    stack: Any, stack_env: dict[str, str], replication_handler: Any, schema: str, sf_schema: str
) -> None:
    before = world(stack, schema, sf_schema)
    event = {"schema_name": schema, "table_name": "people", "dry_run": True}

    plan = replication_handler.lambda_handler(event, FakeLambdaContext())

    assert plan["status"] == "planned" and plan["dry_run"] is True, plan
    assert plan["mode"] == "incremental"
    (create,) = plan["target_statements"]
    assert create.startswith("CREATE TABLE") and "PEOPLE" in create
    assert plan["bounds"]["column"] == "updated_at"
    assert plan["bounds"]["lower"] is None  # no watermark yet: everything
    assert plan["bounds"]["upper"].startswith("2024-01-02T16:00:00")
    assert plan["estimated_rows"] is None or plan["estimated_rows"] >= 0
    assert world(stack, schema, sf_schema) == before

    first_run(replication_handler, schema)
    after_run = world(stack, schema, sf_schema)
    result = cli(["replicate", "--table", f"{schema}.people", "--dry-run"])

    assert result.returncode == 0, result.stderr
    planned = json.loads(result.stdout)
    assert planned["status"] == "planned"
    assert planned["target_statements"] == []  # the target exists and has the source's shape
    assert planned["watermark"].startswith("2024-01-02T16:00:00")
    assert planned["bounds"]["lower"].startswith("2024-01-02T15:55:00")  # the watermark minus the lookback
    assert world(stack, schema, sf_schema) == after_run


@pytest.mark.parametrize("source", ["ssm", "s3"])
def test_tables_are_read_once_from_ssm_or_s3(stack: Any, stack_env: dict[str, str], source: str) -> None:
    from aurora_batch.wiring import load_settings

    document = json.dumps({"sales.orders": {"batch_size": 9, "masking": {"email": {"rule": "null"}}}})
    if source == "ssm":
        ssm = boto3.client("ssm", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
        ssm.put_parameter(Name="/aurora-batch-test/tables", Value=document, Type="String", Overwrite=True)
        location = "/aurora-batch-test/tables"
    else:
        s3 = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
        s3.put_object(Bucket=stack.staging_bucket, Key="config/tables.json", Body=document.encode())
        location = f"s3://{stack.staging_bucket}/config/tables.json"
    env = {**stack_env, "TABLES_SOURCE": source, "TABLES_PARAMETER": location}

    settings = load_settings(env)

    (orders,) = settings.tables
    assert (orders.ref.qualified, orders.batch_size) == ("sales.orders", 9)
    assert orders.masking is not None and orders.masking["email"].rule == "null"
    with pytest.raises(ConfigError) as missing:
        load_settings({**env, "TABLES_PARAMETER": "/aurora-batch-test/none" if source == "ssm" else location + "x"})
    assert missing.value.fields["field"] == "TABLES_PARAMETER"
