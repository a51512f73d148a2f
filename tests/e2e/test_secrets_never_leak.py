"""Secrets never leak: a successful and two failing replications run through the Lambda handler
with logging at DEBUG (every library included). Every log line, exception text, metric, report and
state item is captured, and no secret value may appear in any of them."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import hvac
import pytest
from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.logic.invocation import RunFailedError

from tests.support.lambda_fakes import FakeLambdaContext, load_handler
from tests.support.runs import stack_session_factory

WRONG_PASSWORD = "wrong-password-4f1e9c2a7b"


@pytest.fixture
def secret_values(stack: Any) -> list[str]:
    values = [stack.vault_token, stack.pg.password, stack.snowflake_credentials["password"]]
    assert all(len(v) >= 8 for v in values)
    return values


def _state_items(stack: Any) -> str:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    pages = dynamodb.get_paginator("scan").paginate(TableName=stack.state_table)
    return json.dumps([item for page in pages for item in page["Items"]], default=str)


def test_no_secret_appears_in_logs_errors_metrics_reports_or_state(
    stack: Any,
    stack_env: dict[str, str],
    pg_schema: str,
    sf_schema: str,
    secret_values: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    configured = {f"{pg_schema}.{name}": {"target_schema": sf_schema} for name in ("secrets_probe", "no_such_table")}
    monkeypatch.setenv("TABLES", json.dumps(configured))
    caplog.set_level(logging.DEBUG)  # the root logger: boto, urllib3, hvac, psycopg2, the connector
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{pg_schema}".secrets_probe (id int PRIMARY KEY, v text)')
        cursor.execute(f'INSERT INTO "{pg_schema}".secrets_probe SELECT g, md5(g::text) FROM generate_series(1, 50) g')
        connection.commit()
    vault = hvac.Client(url=stack.vault_addr, token=stack.vault_token)
    aurora = vault.secrets.kv.v2.read_secret_version(path="aurora/connection", raise_on_deleted_version=True)
    vault.secrets.kv.v2.create_or_update_secret(
        path="aurora/wrong-password", secret={**aurora["data"]["data"], "password": WRONG_PASSWORD}
    )
    handler = load_handler("replication")
    handler.runtime.cache_clear()
    texts: list[str] = []

    succeeded = handler.lambda_handler(
        {"schema_name": pg_schema, "table_name": "secrets_probe"},
        FakeLambdaContext(),
    )
    texts.append(json.dumps(succeeded))
    assert succeeded["status"] == "succeeded"

    for event in ({"schema_name": pg_schema, "table_name": "no_such_table"},):
        with pytest.raises(RunFailedError) as failed:
            handler.lambda_handler(event, FakeLambdaContext())
        texts += [str(failed.value), repr(failed.value.__cause__), repr(failed.value.__context__)]

    monkeypatch.setenv("VAULT_SECRET_PATH_AURORA", "secret/aurora/wrong-password")
    handler.runtime.cache_clear()
    with pytest.raises(RunFailedError) as refused:
        handler.lambda_handler({"schema_name": pg_schema, "table_name": "secrets_probe"}, FakeLambdaContext())
    texts += [str(refused.value), repr(refused.value.__cause__), repr(refused.value.__context__)]
    assert "password authentication failed" in str(refused.value)

    captured = capfd.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [record.getMessage() + repr(record.args) + str(record.exc_text) for record in caplog.records]
    texts.append(_state_items(stack))
    everything = "\n".join(texts)

    assert '"_aws"' in captured.out and "RowsLoaded" in captured.out  # metrics were captured too
    assert "secrets_probe" in everything  # and logs about the runs
    for value in [*secret_values, WRONG_PASSWORD]:
        assert value not in everything


def test_the_connection_strings_do_not_carry_the_password(stack: Any, stack_env: dict[str, str]) -> None:
    source = PostgresSource.from_params(
        host=stack.pg.host,
        port=stack.pg.port,
        database=stack.pg.database,
        user=stack.pg.user,
        password=stack.pg.password,
    )
    with source.snapshot() as snapshot:
        dsn = snapshot._connection.dsn  # what psycopg2 shows of its connection string
        assert stack.pg.password not in dsn
        assert "password=xxx" in dsn

    credentials = stack.snowflake_credentials
    session = stack_session_factory(stack)("aurora-batch:probe:run")
    try:
        shown = repr(session) + repr(vars(session))
        assert credentials["password"] not in shown
    finally:
        session.close()
