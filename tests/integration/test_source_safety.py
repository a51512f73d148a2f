"""A source session that cannot write, on the local stack: the stacked-statement `where` is refused
before anything runs, sessions prove they are read-only and the report says so, and transform
hooks run only when registered and may never add rows."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
import hvac
import psycopg2
import psycopg2.extensions
import pytest
from aurora_batch import cli
from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.config import TableOptions, settings_from_env
from aurora_batch.errors import ConfigError, SourceNotReadOnlyError, SourceQueryError
from aurora_batch.logic.invocation import run_table
from aurora_batch.wiring import Runtime

ROWS = 40
ATTACK = "true; COMMIT; INSERT INTO {schema}.victim VALUES (666)"


@pytest.fixture
def orders(stack: Any, pg_schema: str) -> str:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TABLE "{pg_schema}".orders (id bigint PRIMARY KEY, city text);'
            f"INSERT INTO \"{pg_schema}\".orders SELECT g, 'town ' || g FROM generate_series(1, {ROWS}) g;"
            f'CREATE TABLE "{pg_schema}".victim (id bigint); INSERT INTO "{pg_schema}".victim VALUES (1);'
        )
    return pg_schema


@pytest.fixture
def reader(stack: Any, orders: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A login role that is not a superuser, with SELECT on the test's schema and the Vault secret
    the replication reads pointing at it."""
    role = stack.create_pg_role(f"reader_{secrets.token_hex(4)}", read_schemas=(orders,))
    path = f"aurora/reader-{secrets.token_hex(4)}"
    secret = {"host": role.host, "port": role.port, "database": role.database}
    secret.update(user=role.user, password=role.password)
    client = hvac.Client(url=stack.vault_addr, token=stack.vault_token)
    client.secrets.kv.v2.create_or_update_secret(path=path, secret=secret, mount_point="secret")
    monkeypatch.setenv("VAULT_SECRET_PATH_AURORA", f"secret/{path}")
    return role


def _victim_rows(stack: Any, schema: str) -> int:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{schema}".victim')
        return int(cursor.fetchone()[0])


def _staged(stack: Any, schema: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=stack.staging_bucket, Prefix=f"{stack.staging_prefix}/{schema}.")
    return [item["Key"] for item in listed.get("Contents", [])]


def _target_tables(stack: Any, sf_schema: str) -> list[str]:
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT TABLE_NAME FROM ANALYTICS.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '{sf_schema}'")
        return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


# --- the stacked-statement where --------------------------------------------------------------


def test_the_stacked_statement_where_is_refused_and_changes_nothing(
    stack: Any,
    stack_env: dict[str, str],
    orders: str,
    sf_schema: str,
    reader: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    attack = ATTACK.format(schema=f'"{orders}"')
    tables = [{"schema_name": orders, "table_name": "orders", "target_schema": sf_schema, "where": attack}]
    monkeypatch.setenv("TABLES", json.dumps(tables))

    exit_code = cli.main(["replicate", "--table", f"{orders}.orders", "--json"])

    assert exit_code == cli.EXIT_CONFIG
    message = capsys.readouterr().err
    assert "where" in message and f"{orders}.orders" in message and "';'" in message
    with pytest.raises(ConfigError) as raised:
        settings_from_env()
    assert (raised.value.fields["field"], raised.value.fields["table"]) == ("where", f"{orders}.orders")
    assert _victim_rows(stack, orders) == 1
    monkeypatch.delenv("TABLES")
    assert Runtime(settings_from_env()).state.get(f"{orders}.orders").watermark is None
    assert _staged(stack, orders) == []
    assert _target_tables(stack, sf_schema) == []


def test_a_read_only_role_cannot_be_made_to_write_even_by_stacked_sql(stack: Any, orders: str, reader: Any) -> None:
    """Below the parser: the documented role setting keeps even a COMMIT's next transaction read-only."""
    with stack.pg_connect(superuser=True) as admin, admin.cursor() as cursor:
        cursor.execute(f'GRANT INSERT ON "{orders}".victim TO "{reader.user}"')  # it could write, were it not read-only
        cursor.execute(f'ALTER ROLE "{reader.user}" SET default_transaction_read_only = on')
    source = _source(reader)

    with source.snapshot() as snapshot, pytest.raises(SourceQueryError) as raised:
        snapshot.query(f"SELECT 1 WHERE {ATTACK.format(schema=f'{chr(34)}{orders}{chr(34)}')}")

    assert isinstance(raised.value.__cause__, psycopg2.errors.ReadOnlySqlTransaction)
    assert raised.value.retryable is False

    assert _victim_rows(stack, orders) == 1


# --- read-only sessions -------------------------------------------------------------------------


def _source(role: Any, connection_factory: Any = None) -> PostgresSource:
    import adbc_driver_postgresql.dbapi as adbc_dbapi

    dsn = f"host={role.host} port={role.port} dbname={role.database} user={role.user} password={role.password}"
    return PostgresSource(
        lambda: psycopg2.connect(dsn, connection_factory=connection_factory),
        lambda: adbc_dbapi.connect(dsn, autocommit=True),
    )


class _WritableConnection(psycopg2.extensions.connection):
    """A real connection that ignores the request to be read-only, as a misbuilt session would."""

    def set_session(self, *args: Any, readonly: Any = None, **kwargs: Any) -> None:
        super().set_session(*args, **kwargs)


def test_a_session_that_is_not_read_only_fails_before_reading(reader: Any) -> None:
    with pytest.raises(SourceNotReadOnlyError) as raised, _source(reader, _WritableConnection).snapshot():
        pytest.fail("the snapshot opened")

    assert raised.value.retryable is False
    assert raised.value.fields["session"] == "snapshot"


def test_the_report_says_the_sessions_were_read_only(
    stack: Any, stack_env: dict[str, str], orders: str, sf_schema: str, reader: Any
) -> None:
    with stack.pg_connect(superuser=True) as admin, admin.cursor() as cursor:
        cursor.execute(f'ALTER ROLE "{reader.user}" SET default_transaction_read_only = on')
    options = TableOptions(schema_name=orders, table_name="orders", target_schema=sf_schema)

    report = run_table(options, Runtime(settings_from_env()))

    assert report.status == "succeeded", report.error
    assert report.source_read_only is True
    assert report.source_role_read_only is True
    assert report.rows_loaded == ROWS or report.rows_merged == ROWS or report.rows_extracted == ROWS


# --- transform hooks ----------------------------------------------------------------------------


def _hook_run(monkeypatch: pytest.MonkeyPatch, orders: str, sf_schema: str, hook: str, registry: Any) -> Any:
    monkeypatch.setenv("TRANSFORM_HOOKS", json.dumps(registry))
    options = TableOptions(
        schema_name=orders, table_name="orders", target_schema=sf_schema, transform=hook, batch_size=10
    )
    return run_table(options, Runtime(settings_from_env()))


@pytest.fixture
def hook_env(stack_env: dict[str, str], orders: str, sf_schema: str) -> None:
    return None


def test_an_unregistered_hook_is_refused_naming_it(
    hook_env: None, monkeypatch: pytest.MonkeyPatch, orders: str, sf_schema: str
) -> None:
    report = _hook_run(monkeypatch, orders, sf_schema, "tests.support.hooks.pass_through", [])

    assert report.status == "failed"
    assert report.error is not None
    assert report.error["error"] == "ConfigError"
    assert "tests.support.hooks.pass_through" in report.error["message"]
    assert "not registered" in report.error["message"]


def test_a_hook_that_repeats_forever_fails_instead_of_holding_the_lease(
    stack: Any, hook_env: None, monkeypatch: pytest.MonkeyPatch, orders: str, sf_schema: str
) -> None:
    hook = "tests.support.hooks.repeat_forever"
    report = _hook_run(monkeypatch, orders, sf_schema, hook, [hook])

    assert report.status == "failed"
    assert report.error is not None
    assert report.error["error"] == "TransformHookError"
    assert "more rows than it was given" in report.error["message"]
    state = Runtime(settings_from_env()).state.get(f"{orders}.orders")
    assert state.lease_owner is None
    assert _target_tables(stack, sf_schema) == []


def test_a_hook_that_drops_rows_fails_unless_registered_as_filtering(
    hook_env: None, monkeypatch: pytest.MonkeyPatch, orders: str, sf_schema: str
) -> None:
    hook = "tests.support.hooks.drop_odd_ids"
    refused = _hook_run(monkeypatch, orders, sf_schema, hook, [hook])

    assert refused.status == "failed"
    assert refused.error is not None
    assert "changed the row count" in refused.error["message"]
    assert (refused.error["rows_in"], refused.error["rows_out"]) == (ROWS, ROWS // 2)

    allowed = _hook_run(monkeypatch, orders, sf_schema, hook, {hook: {"filters_rows": True}})

    assert allowed.status == "succeeded", allowed.error
    assert allowed.transform == {"hook": hook, "filters_rows": True, "rows_in": ROWS, "rows_out": ROWS // 2}


def test_a_table_naming_an_unregistered_hook_is_refused_when_configuration_is_read(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLES", json.dumps([{"table_name": "t", "transform": "tests.support.hooks.pass_through"}]))
    monkeypatch.setenv("TRANSFORM_HOOKS", "[]")

    with pytest.raises(ConfigError) as raised:
        settings_from_env()

    assert raised.value.fields["hook"] == "tests.support.hooks.pass_through"
    assert raised.value.fields["table"] == "public.t"
