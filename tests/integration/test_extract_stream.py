"""The extract stream: binary COPY through the ADBC driver, inside the run's snapshot."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg2.sql
import pyarrow as pa
import pytest
from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.errors import SourceConnectionError, SourceQueryError
from aurora_batch.logic.extract import ExtractPlan, plan_columns, read_batches
from aurora_batch.model import TableRef, snowflake_name

APPLICATION = "aurora-batch-extract-test"


def _source(stack: Any, *, password: str | None = None) -> PostgresSource:
    return PostgresSource.from_params(
        host=stack.pg.host,
        port=stack.pg.port,
        database=stack.pg.database,
        user=stack.pg.user,
        password=stack.pg.password if password is None else password,
        application_name=APPLICATION,
    )


def _activity(stack: Any) -> list[tuple[str, str]]:
    with stack.pg_connect(superuser=True) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, query FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
            (APPLICATION,),
        )
        return [(str(state), str(query)) for state, query in cursor.fetchall()]


@pytest.fixture
def numbers(pg_tables: Any) -> str:
    return str(
        pg_tables(
            "CREATE TABLE {schema}.numbers (id bigint PRIMARY KEY, label text NOT NULL);"
            "INSERT INTO {schema}.numbers SELECT g, repeat('n', 200) || g FROM generate_series(1, 50000) g"
        )
    )


def test_rows_stream_through_binary_copy_in_batches_the_size_asked_for(stack: Any, numbers: str) -> None:
    ref = TableRef(numbers, "numbers")
    with _source(stack).snapshot() as snapshot:
        table = snapshot.describe(ref)
        plan = ExtractPlan(table, plan_columns(table, {c.name: snowflake_name(c.name) for c in table.columns}))
        with snapshot.copy_batches(plan.select_sql(), batch_bytes=1 << 20) as raw:
            first = next(raw)
            running = [query for state, query in _activity(stack) if state == "active"]
            rest = list(read_batches(raw, plan, batch_rows=3000, table_name=ref.qualified))

    assert running == [f"COPY ({plan.select_sql()}) TO STDOUT (FORMAT binary)"]
    assert first.nbytes < 2 << 20  # the driver ended the batch near 1 MiB, not at the table's end
    assert max(batch.num_rows for batch in rest) == 3000  # BATCH_SIZE caps every batch
    ids = pa.chunked_array([first.column(0), *(batch.column(0) for batch in rest)])
    assert len(ids) == 50000 and ids.to_pylist() == list(range(1, 50001))
    assert rest[0].schema == plan.schema


def test_the_stream_sees_the_snapshot_not_rows_committed_after_it(stack: Any, numbers: str) -> None:
    ref = TableRef(numbers, "numbers")
    with _source(stack).snapshot() as snapshot:
        table = snapshot.describe(ref)
        counted = snapshot.query_one(f"SELECT count(*) FROM {ref.pg_sql}")
        with stack.pg_connect() as writer, writer.cursor() as cursor:
            cursor.execute(f"INSERT INTO {ref.pg_sql} VALUES (50001, 'late'), (50002, 'late')")
            cursor.execute(f"DELETE FROM {ref.pg_sql} WHERE id <= 10")
        plan = ExtractPlan(table, plan_columns(table, {c.name: c.name for c in table.columns}))
        with snapshot.copy_batches(plan.select_sql(), batch_bytes=1 << 20) as raw:
            streamed = sum(batch.num_rows for batch in raw)

    assert counted == (50000,)
    assert streamed == 50000


def test_a_query_alongside_runs_on_its_own_connection_in_the_same_snapshot(stack: Any, numbers: str) -> None:
    ref = TableRef(numbers, "numbers")
    with _source(stack).snapshot() as snapshot:
        with stack.pg_connect() as writer, writer.cursor() as cursor:
            cursor.execute(f"DELETE FROM {ref.pg_sql} WHERE id <= 10")
        alongside = snapshot.query_alongside(f"SELECT count(*), pg_backend_pid() FROM {ref.pg_sql}")
        own = snapshot.query_one("SELECT pg_backend_pid()")

    assert alongside[0][0] == 50000  # the snapshot's rows, not the table's now
    assert own is not None and alongside[0][1] != own[0]


# Read ahead in a thread of its own (one stream), or in the caller's thread (parallel streams).
READ_AHEAD = pytest.mark.parametrize("read_ahead", [True, False], ids=["read ahead", "inline"])


@READ_AHEAD
def test_stopping_early_cancels_the_copy_and_closes_the_connection(stack: Any, numbers: str, read_ahead: bool) -> None:
    with _source(stack).snapshot() as snapshot:
        select = f'SELECT * FROM "{numbers}".numbers'
        with snapshot.copy_batches(select, batch_bytes=1 << 20, read_ahead=read_ahead) as raw:
            next(raw)
        after = _activity(stack)

    assert [query for _, query in after if query.startswith("COPY")] == []


def _count_rows(source: PostgresSource, select_sql: str, *, read_ahead: bool = True) -> int:
    with (
        source.snapshot() as snapshot,
        snapshot.copy_batches(select_sql, batch_bytes=1 << 20, read_ahead=read_ahead) as raw,
    ):
        return sum(batch.num_rows for batch in raw)


@READ_AHEAD
def test_a_query_postgresql_rejects_mid_stream_is_permanent_and_keeps_the_sqlstate(
    stack: Any, numbers: str, read_ahead: bool
) -> None:
    select = f'SELECT id, 1 / (id - 40000) FROM "{numbers}".numbers ORDER BY id'
    with pytest.raises(SourceQueryError) as raised:
        _count_rows(_source(stack), select, read_ahead=read_ahead)

    assert raised.value.fields["sqlstate"] == "22012"
    assert "division by zero" in str(raised.value)


def test_a_bulk_connection_that_fails_names_the_host_never_the_password(stack: Any, numbers: str) -> None:
    wrong = "not-the-password-4b1d"
    source = PostgresSource(
        connect=lambda: stack.pg_connect(), connect_bulk=_source(stack, password=wrong)._connect_bulk
    )
    with pytest.raises(SourceConnectionError) as raised:
        _count_rows(source, f'SELECT * FROM "{numbers}".numbers')

    shown = str(raised.value) + repr(raised.value.fields) + repr(raised.value.__cause__)
    assert wrong not in shown and stack.pg.password not in shown
    assert raised.value.fields["host"] == stack.pg.host


def test_a_password_with_quotes_backslashes_and_spaces_reaches_both_connections(stack: Any, numbers: str) -> None:
    role = stack.create_pg_role(f"quoted_{secrets.token_hex(3)}", read_schemas=(numbers,))
    awkward = "it's a \\'pass\\\\word' host=evil sslmode=disable"
    with stack.pg_connect(superuser=True) as admin, admin.cursor() as cursor:
        cursor.execute(
            psycopg2.sql.SQL("ALTER ROLE {} PASSWORD %s").format(psycopg2.sql.Identifier(role.user)), (awkward,)
        )
    source = PostgresSource.from_params(
        host=role.host, port=role.port, database=role.database, user=role.user, password=awkward
    )

    assert _count_rows(source, f'SELECT id FROM "{numbers}".numbers') == 50000
