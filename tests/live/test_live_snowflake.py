"""Against a real Snowflake account (opt-in: see tests/support/live_snowflake.py; without the
variables every test here skips). Every statement the loader emits runs, in the order a run
issues them, and does what the loader relies on; with a stage configured, COPY loads exactly the
staged files and a whole replication lands."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from aurora_batch.adapters.s3 import S3Staging
from aurora_batch.adapters.snowflake import SnowflakeSession
from aurora_batch.config import TableOptions
from aurora_batch.logic import load as sql
from aurora_batch.logic.stage import S3SinkFactory, Stager
from aurora_batch.model import Mode, StagedPart, TargetTable, quote_sf
from aurora_batch.wiring import Runtime

from tests.support.live_snowflake import LiveSnowflake, LiveStage, live_environment, skip_reason
from tests.support.loader_statements import SPECS, LoaderStatements, sample_target
from tests.support.runs import replicate

_CONFIGURED, _MISSING = live_environment()
pytestmark = [
    pytest.mark.snowflake_live,
    pytest.mark.skipif(_CONFIGURED is None, reason=skip_reason(_MISSING)),
]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
Row = dict[str, Any]


def _row(key: int, note: str, doc: str | None, tags: str | None, raw: str | None, second: int, amount: str) -> Row:
    return {
        "ID": key,
        "NOTE": note,
        "DOC": doc,
        "TAGS": tags,
        "RAW": raw,
        "UPDATED_AT": T0 + timedelta(seconds=second),
        "MixedCase": Decimal(amount),
    }


# The staging rows, as three parts would hold them: ID 3 arrives twice, the second copy newer.
FIRST = [
    _row(1, "one", '{"a": 1}', '["x", "y"]', "00ff", 1, "1.25"),
    _row(2, "two", '{"b": [1, 2]}', "[]", "cafe", 2, "-2.50"),
    _row(3, "three", None, None, None, 3, "0.00"),
]
SECOND = [
    _row(3, "three, newer", '{"c": "it\'s"}', '["z"]', "beef", 4, "3.75"),
    _row(4, 'four "quoted"', "{}", "[1]", "0a0b", 5, "10.00"),
]
THIRD = [_row(5, "five", '{"e": null}', '[{"k": 1}]', "ff00", 6, "0.05")]
ROWS = FIRST + SECOND + THIRD
STAGED_SCHEMA = pa.schema(
    [
        ("ID", pa.int64()),
        ("NOTE", pa.large_string()),
        ("DOC", pa.large_string()),
        ("TAGS", pa.large_string()),
        ("RAW", pa.large_string()),
        ("UPDATED_AT", pa.timestamp("us", tz="UTC")),
        ("MixedCase", pa.decimal128(12, 2)),
    ]
)


def merged(rows: Sequence[Row]) -> list[Row]:
    """What MERGE on ID, newest UPDATED_AT winning, leaves: one row per ID."""
    newest: dict[int, Row] = {}
    for row in rows:
        if row["ID"] not in newest or row["UPDATED_AT"] >= newest[row["ID"]]["UPDATED_AT"]:
            newest[row["ID"]] = row
    return [newest[key] for key in sorted(newest)]


def comparable(row: Row) -> tuple[Any, ...]:
    """A row read back from Snowflake or written by the test, in one form: JSON parsed, hex binary."""

    def parsed(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    raw = row["RAW"]
    return (
        row["ID"],
        row["NOTE"],
        parsed(row["DOC"]),
        parsed(row["TAGS"]),
        raw.hex() if isinstance(raw, bytes | bytearray) else raw,
        row["UPDATED_AT"],
        row["MixedCase"],
    )


class Recorder:
    """The live session, remembering every statement it ran."""

    def __init__(self, session: SnowflakeSession) -> None:
        self.session = session
        self.ran: list[str] = []

    def __call__(self, statement: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        self.ran.append(statement)
        return self.session.execute(statement, params)

    def with_columns(self, statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        self.ran.append(statement)
        return self.session.execute_with_columns(statement)

    def rows(self, table: str) -> list[Row]:
        names, rows = self.session.execute_with_columns(f'SELECT * FROM {table} ORDER BY "ID", "UPDATED_AT"')
        upper = [name.upper() if name.upper() != "MIXEDCASE" else "MixedCase" for name in names]
        return [dict(zip(upper, row, strict=True)) for row in rows]


@pytest.fixture
def recorder(live: LiveSnowflake, live_schema: str) -> Iterator[Recorder]:
    session = live.connect(live_schema, f"aurora-batch:{live_schema}.ORDERS:live-tests")
    try:
        yield Recorder(session)
    finally:
        session.close()


def describe(run: Callable[[str], list[tuple[Any, ...]]], target: TargetTable) -> list[sql.ExistingColumn]:
    return [sql.ExistingColumn.from_row(row) for row in run(sql.describe_columns_sql(target))]


def assert_catalog_kept(run: Recorder, target: TargetTable) -> None:
    """Comments, NOT NULL and the primary key, as the loader's DDL set them."""
    (table_comment,) = run(
        f"SELECT COMMENT FROM {quote_sf(target.database)}.INFORMATION_SCHEMA.TABLES "
        f"WHERE TABLE_SCHEMA = {sql.literal(target.schema)} AND TABLE_NAME = {sql.literal(target.name)}"
    )
    assert table_comment == (target.comment,)
    columns = run(
        "SELECT COLUMN_NAME, IS_NULLABLE, COMMENT "
        f"FROM {quote_sf(target.database)}.INFORMATION_SCHEMA.COLUMNS "
        f"WHERE TABLE_SCHEMA = {sql.literal(target.schema)} AND TABLE_NAME = {sql.literal(target.name)} "
        "ORDER BY ORDINAL_POSITION"
    )
    assert columns == [(c.name, "YES" if c.nullable else "NO", c.comment) for c in target.columns]
    names, keys = run.session.execute_with_columns(f"SHOW PRIMARY KEYS IN TABLE {target.sql}")
    by_sequence = sorted(keys, key=lambda key: int(key[names.index("key_sequence")]))
    assert [key[names.index("column_name")] for key in by_sequence] == list(target.primary_key)


def insert_rows(run: Recorder, table: str, rows: Sequence[Row]) -> None:
    """Fill a staging table without a stage (the test's own INSERT, not a loader statement)."""
    names = ", ".join(quote_sf(name) for name in STAGED_SCHEMA.names)
    placeholders = ", ".join(["%s"] * len(STAGED_SCHEMA.names))
    for row in rows:
        run.session.execute(
            f"INSERT INTO {table} ({names}) VALUES ({placeholders})",
            [row[name] for name in STAGED_SCHEMA.names],
        )


def test_every_loader_statement_runs_on_snowflake(recorder: Recorder, live: LiveSnowflake, live_schema: str) -> None:
    statements = LoaderStatements(sample_target(live.database, live_schema), stage="NO.STAGE.NEEDED")
    target, run = statements.target, recorder

    # prepare: a target from an older source, described, then evolved in place
    assert run(sql.table_exists_sql(target)) == [(0,)]
    run(sql.create_table_sql(statements.older_target))
    assert run(sql.table_exists_sql(target)) == [(1,)]
    assert describe(run, target) == list(statements.existing)  # what the unit tests assume
    for statement in statements.evolution():
        run(statement)
    assert sql.evolution_statements(target, describe(run, target)) == []
    run(sql.comment_table_sql(target))
    run(sql.create_table_sql(target))  # IF NOT EXISTS: the evolved table stays as it is
    assert_catalog_kept(run, target)

    # incremental: staging, then MERGE (deduplicated, newest wins), then MERGE on a composite key
    run(sql.create_staging_sql(target, statements.staging))
    insert_rows(run, statements.staging, ROWS)
    by_id, by_id_and_note = statements.merges()
    run(by_id)
    assert [comparable(r) for r in run.rows(target.sql)] == [comparable(r) for r in merged(ROWS)]
    # on (ID, NOTE), with ID 3's older copy gone from staging, every row matches: updated, none added
    run.session.execute(f'DELETE FROM {statements.staging} WHERE "ID" = 3 AND "NOTE" = \'three\'')
    run(by_id_and_note)
    assert [comparable(r) for r in run.rows(target.sql)] == [comparable(r) for r in merged(ROWS)]

    # full refresh: a snapshot (one row per key) staged, a new table LIKE the target filled from it
    # and validated, then swapped in
    snapshot = merged(ROWS)
    run.session.execute(sql.drop_table_sql(statements.staging))
    run(sql.create_staging_sql(target, statements.staging))
    insert_rows(run, statements.staging, snapshot)
    run(sql.create_like_sql(target, statements.new_table))
    run(sql.insert_from_staging_sql(target, statements.new_table, statements.staging))
    expected = {
        "count": len(snapshot),
        "min(ID)": min(r["ID"] for r in snapshot),
        "sum(MixedCase)": sum(r["MixedCase"] for r in snapshot),
    }
    (observed,) = run(sql.aggregates_sql(statements.new_table, SPECS))
    sql.compare_aggregates(expected, observed, SPECS, where="new table", table=target.name, run_id="live")
    run(sql.swap_sql(target, statements.new_table))
    assert [comparable(r) for r in run.rows(target.sql)] == [comparable(r) for r in snapshot]
    assert_catalog_kept(run, target)  # the swapped-in table carries the comments and constraints
    run(sql.drop_table_sql(statements.new_table))  # the old target, after the swap
    run(sql.drop_table_sql(statements.staging))

    not_run = [s for s in statements.every_statement() if s not in run.ran and not s.startswith("COPY INTO")]
    assert not_run == []


def _stage_rows(sinks: S3SinkFactory, run_path: str, rows: Sequence[Row], file_format: str) -> list[StagedPart]:
    """Stage rows the way a run does: the product's Stager, multipart-uploaded to the stage's location."""
    stager = Stager(sinks, run_path, STAGED_SCHEMA, file_format=file_format)
    stager.write(pa.RecordBatch.from_pylist(list(rows), schema=STAGED_SCHEMA))
    return stager.close()


def test_copy_into_loads_exactly_the_staged_files(
    recorder: Recorder, live: LiveSnowflake, live_schema: str, live_stage: LiveStage
) -> None:
    statements = LoaderStatements(sample_target(live.database, live_schema), stage=live_stage.name)
    target, run = statements.target, recorder
    staging = S3Staging(live_stage.s3_client, live_stage.bucket)
    sinks = S3SinkFactory(staging, live_stage.prefix)
    run_path = f"aurora-batch-live-tests/{live_schema}"
    try:
        parquet = _stage_rows(sinks, f"{run_path}/parquet", FIRST, "parquet")
        csv = _stage_rows(sinks, f"{run_path}/csv", SECOND, "csv")
        csv += _stage_rows(sinks, f"{run_path}/it's", THIRD, "csv")  # a quote in FILES=(...)
        run(sql.create_table_sql(target))
        run(sql.create_staging_sql(target, statements.staging))

        for parts, file_format in ((parquet, "parquet"), (csv, "csv")):
            names, rows = run.with_columns(statements.copy([p.stage_path for p in parts], file_format))
            results = sql.parse_copy_results(names, rows)
            loaded = sql.check_copy_results(parts, results, table=target.name, run_id="live")
            assert loaded == sum(p.rows for p in parts)

        by_id, _ = statements.merges()
        run(by_id)
        assert [comparable(r) for r in run.rows(target.sql)] == [comparable(r) for r in merged(ROWS)]
    finally:
        staging.delete_prefix(sinks.key(run_path) + "/")
        staging.close()


def test_a_replication_lands_in_snowflake_end_to_end(
    stack: Any,
    pg_schema: str,
    live: LiveSnowflake,
    live_schema: str,
    live_stage: LiveStage,
    live_runtime: Runtime,
    recorder: Recorder,
) -> None:
    table = f'"{pg_schema}".orders'

    def source(statement: str) -> list[tuple[Any, ...]]:
        with stack.pg_connect() as connection, connection.cursor() as cursor:
            cursor.execute(statement.replace("{t}", table))
            rows = list(cursor.fetchall()) if cursor.description else []
            connection.commit()
            return rows

    source(
        "CREATE TABLE {t} (id bigint PRIMARY KEY, region text NOT NULL, amount numeric(12,2), doc jsonb, "
        "raw bytea, updated_at timestamptz NOT NULL)"
    )
    source("COMMENT ON TABLE {t} IS 'orders, replicated live'")
    source("COMMENT ON COLUMN {t}.amount IS 'in EUR'")
    source(
        "INSERT INTO {t} SELECT g, 'eu', g * 1.25, jsonb_build_object('g', g), decode(md5(g::text), 'hex'), "
        "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 500) g"
    )
    sf_table = f'{quote_sf(live.database)}.{quote_sf(live_schema)}."ORDERS"'
    incremental = TableOptions(
        schema_name=pg_schema,
        table_name="orders",
        target_schema=live_schema,
        mode=Mode.INCREMENTAL,
        incremental_column="updated_at",
        lookback_seconds=0,
    )
    full = TableOptions(schema_name=pg_schema, table_name="orders", target_schema=live_schema)
    staged_prefix = f"{live_stage.prefix}/{pg_schema}.orders/".lstrip("/")
    staging = S3Staging(live_stage.s3_client, live_stage.bucket)

    def same_as_source() -> None:
        expected = source("SELECT count(*), sum(amount), max(updated_at) FROM {t}")[0]
        observed = recorder(f'SELECT COUNT(*), SUM("AMOUNT"), MAX("UPDATED_AT") FROM {sf_table}')[0]
        assert tuple(observed) == tuple(expected)

    try:
        first = replicate(incremental, live_runtime)
        assert first["status"] == "succeeded", first["error"]
        same_as_source()

        source("UPDATE {t} SET amount = amount + 1, updated_at = updated_at + interval '1 day' WHERE id <= 10")
        source(
            "INSERT INTO {t} SELECT g, 'us', 2, NULL, NULL, timestamptz '2024-02-01 00:00:00+00' "
            "FROM generate_series(501, 505) g"
        )
        second = replicate(incremental, live_runtime)
        assert second["status"] == "succeeded", second["error"]
        assert second["rows_extracted"] >= 15  # 10 updated, 5 new (and any re-read at the watermark)
        same_as_source()

        third = replicate(full, live_runtime)  # LIKE .. COPY GRANTS, validate, SWAP WITH
        assert third["status"] == "succeeded", third["error"]
        same_as_source()
        comments = recorder(
            f"SELECT COMMENT FROM {quote_sf(live.database)}.INFORMATION_SCHEMA.COLUMNS "
            f"WHERE TABLE_SCHEMA = {sql.literal(live_schema)} "
            "AND TABLE_NAME = 'ORDERS' AND COLUMN_NAME = 'AMOUNT'"
        )
        assert comments == [("in EUR",)]
        assert list(staging.list_objects(staged_prefix)) == []  # every run cleaned up after itself
    finally:
        staging.delete_prefix(staged_prefix)
        staging.close()
