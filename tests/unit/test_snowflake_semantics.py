"""Snowflake semantics the loader must follow where DuckDB is looser: file-format options, type
families, numeric scales, size limits and the naming of database and schema."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
import sqlglot
from aurora_batch.adapters.postgres_catalog import _precision_scale
from aurora_batch.errors import TargetSchemaError, ValueConversionError
from aurora_batch.logic import extract
from aurora_batch.logic import load as sql
from aurora_batch.logic.stage import csv_schema
from aurora_batch.model import SourceColumn, SourceTable, TableRef, snowflake_object_name
from aurora_batch.typemap import column_type

from tests.support.loader_statements import sample_target


def test_parquet_copy_reads_logical_types() -> None:
    statement = sql.copy_into_sql('"DB"."S"."T__AB_STAGE"', "DB.S.STAGE", ["a/part-00000.parquet"], "parquet")

    assert "FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE)" in statement
    sqlglot.parse_one(statement, read="snowflake")


def test_csv_copy_pins_date_time_and_timestamp_formats() -> None:
    statement = sql.copy_into_sql('"DB"."S"."T__AB_STAGE"', "DB.S.STAGE", ["a/part-00000.csv.gz"], "csv")

    assert "DATE_FORMAT = 'YYYY-MM-DD'" in statement
    assert "TIME_FORMAT = 'HH24:MI:SS.FF6'" in statement
    assert "TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF6'" in statement
    sqlglot.parse_one(statement, read="snowflake")


def test_a_csv_part_writes_a_utc_timestamp_as_its_utc_wall_clock() -> None:
    import io

    import pyarrow.csv as pacsv

    schema = pa.schema([pa.field("AT", pa.timestamp("us", tz="UTC")), pa.field("LOCAL", pa.timestamp("us"))])
    batch = pa.record_batch([[datetime(2024, 1, 1, 12, tzinfo=UTC)], [datetime(2024, 1, 1, 12)]], schema=schema)
    written = io.BytesIO()
    pacsv.write_csv(batch.cast(csv_schema(schema)), written)

    assert written.getvalue().splitlines()[1] == b"2024-01-01 12:00:00.000000,2024-01-01 12:00:00.000000"


@pytest.mark.parametrize(("have", "want"), [("ARRAY", "VARIANT"), ("OBJECT", "VARIANT"), ("ARRAY", "OBJECT")])
def test_an_array_or_object_column_cannot_take_other_json(have: str, want: str) -> None:
    base = sample_target()
    column = next(c for c in base.columns if c.sql_type == "VARIANT")
    target = type(base)(
        base.database,
        base.schema,
        base.name,
        tuple(type(c)(**{**c.__dict__, "sql_type": want}) if c is column else c for c in base.columns),
        base.primary_key,
    )
    existing = [sql.ExistingColumn(c.name, c.sql_type.split("(")[0], None, None, None) for c in base.columns]
    existing = [sql.ExistingColumn(e.name, have, None, None, None) if e.name == column.name else e for e in existing]

    with pytest.raises(TargetSchemaError) as raised:
        sql.evolution_statements(target, existing)
    assert raised.value.fields["column"] == column.name


def _numeric(precision: int, scale: int) -> SourceColumn:
    typmod = ((precision << 16) | (scale & 0x7FF)) + 4  # PostgreSQL's packing of numeric(p,s)
    decoded_precision, decoded_scale, _ = _precision_scale("numeric", typmod)
    return SourceColumn(
        name="n",
        pg_type=f"numeric({precision},{scale})",
        type_name="numeric",
        type_category="N",
        nullable=True,
        ordinal=1,
        numeric_precision=decoded_precision,
        numeric_scale=decoded_scale,
    )


@pytest.mark.parametrize(
    ("precision", "scale", "snowflake_type"),
    [(12, 2, "NUMBER(12,2)"), (3, -2, "NUMBER(5,0)"), (3, 5, "NUMBER(5,5)"), (37, -2, "VARCHAR"), (1, 1000, "VARCHAR")],
)
def test_postgres_15_numeric_scales_map_to_a_valid_number(precision: int, scale: int, snowflake_type: str) -> None:
    mapped = column_type(_numeric(precision, scale))

    assert mapped.snowflake_type == snowflake_type
    if snowflake_type.startswith("NUMBER"):
        assert mapped.arrow_type == pa.decimal128(*(int(x) for x in snowflake_type[7:-1].split(",")))


def test_json_keeps_the_last_of_duplicate_keys_as_jsonb_does() -> None:
    for pg_type, category in (("json", "U"), ("jsonb", "U"), ("_int4", "A")):
        column = SourceColumn("doc", pg_type, pg_type, category, True, 1)
        assert column_type(column).load_expression == "PARSE_JSON({col}, 'd')"


@pytest.mark.parametrize(
    ("configured", "resolved"),
    [
        ("analytics", "ANALYTICS"),
        ("Analytics_2$", "ANALYTICS_2$"),
        ("ANALYTICS", "ANALYTICS"),
        ('"analytics"', "analytics"),
        ('"Sales ""Ops"""', 'Sales "Ops"'),
        ("Sales Ops", "Sales Ops"),
    ],
)
def test_database_and_schema_names_resolve_as_snowflake_resolves_them(configured: str, resolved: str) -> None:
    assert snowflake_object_name(configured) == resolved


def test_snowflakes_size_limits() -> None:
    assert extract.VARCHAR_MAX_BYTES == 16 * 1024 * 1024
    assert extract.VARIANT_MAX_BYTES == 16 * 1024 * 1024
    assert extract.BINARY_MAX_BYTES == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("pg_type", "limit_name", "value"),
    [
        ("text", "VARCHAR_MAX_BYTES", "é" * 6),
        ("jsonb", "VARIANT_MAX_BYTES", '"abcdefghijk"'),
        ("bytea", "BINARY_MAX_BYTES", "ab" * 11),
    ],
)
def test_a_value_over_snowflakes_limit_is_named_before_the_copy(
    monkeypatch: pytest.MonkeyPatch, pg_type: str, limit_name: str, value: str
) -> None:
    monkeypatch.setattr(extract, limit_name, 10)
    key = SourceColumn("id", "integer", "int4", "N", False, 1)
    big = SourceColumn("big", pg_type, pg_type, "U", True, 2)
    table = SourceTable(TableRef("public", "docs"), (key, big), primary_key=("id",))
    plan = extract.ExtractPlan(table, extract.plan_columns(table, {"id": "ID", "big": "BIG"}))
    fits = "x" if pg_type != "jsonb" else '"x"'
    batch = pa.record_batch(
        [pa.array([1, 2, 3], pa.int32()), pa.array([fits, value, None], pa.large_string())], names=["id", "big"]
    )

    with pytest.raises(ValueConversionError) as raised:
        list(extract.read_batches([batch], plan, batch_rows=100, table_name="public.docs"))

    assert raised.value.fields["table"] == "public.docs"
    assert raised.value.fields["column"] == "big"
    assert raised.value.fields["key"] == {"id": "2"}
    assert list(extract.read_batches([batch.slice(0, 1)], plan, batch_rows=100, table_name="public.docs"))
