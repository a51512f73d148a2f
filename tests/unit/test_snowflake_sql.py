"""Every statement the loader emits parses as Snowflake SQL, and the pure decisions behind
them (schema evolution, COPY result checks, aggregates) behave as documented."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlglot
from aurora_batch.errors import TargetSchemaError, ValidationError
from aurora_batch.logic import load as sql
from aurora_batch.model import StagedPart, TargetColumn, TargetTable

from tests.support.loader_statements import SPECS as LOADER_SPECS
from tests.support.loader_statements import LoaderStatements, sample_target

STATEMENTS = LoaderStatements(sample_target(), "ANALYTICS.PUBLIC.AURORA_BATCH_STAGE")
TARGET = STATEMENTS.target
STAGING = STATEMENTS.staging
NEW = STATEMENTS.new_table
SPECS = list(LOADER_SPECS)


def every_statement() -> list[str]:
    return STATEMENTS.every_statement()


@pytest.mark.parametrize("statement", every_statement())
def test_every_statement_parses_as_snowflake(statement: str) -> None:
    parsed = sqlglot.parse(statement, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == 1
    assert parsed[0] is not None


def test_json_and_arrays_become_variant_through_parse_json_in_merge_and_insert() -> None:
    merge = sql.merge_sql(TARGET, STAGING, ["ID"], "UPDATED_AT")
    assert 'PARSE_JSON("DOC") AS "DOC"' in merge
    assert 'PARSE_JSON("TAGS") AS "TAGS"' in merge
    assert "TO_BINARY(\"RAW\", 'HEX')" in merge
    assert 'PARSE_JSON("DOC")' in sql.insert_from_staging_sql(TARGET, NEW, STAGING)


def test_merge_deduplicates_by_key_keeping_the_newest_and_never_goes_backwards() -> None:
    merge = sql.merge_sql(TARGET, STAGING, ["ID"], "UPDATED_AT")
    assert 'QUALIFY ROW_NUMBER() OVER (PARTITION BY "ID" ORDER BY "UPDATED_AT" DESC NULLS LAST) = 1' in merge
    assert 'WHEN MATCHED AND (t."UPDATED_AT" IS NULL OR s."UPDATED_AT" >= t."UPDATED_AT")' in merge


def test_copy_is_limited_to_the_runs_files_and_aborts_on_error() -> None:
    statement = sql.copy_into_sql(STAGING, "STG", ["x/r1/part-00000.parquet"], "parquet")
    assert "FILES = ('x/r1/part-00000.parquet')" in statement
    assert "ON_ERROR = ABORT_STATEMENT" in statement
    assert "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE" in statement
    assert "CREDENTIALS" not in statement.upper()


def test_full_refresh_keeps_grants_and_swaps_atomically() -> None:
    assert sql.create_like_sql(TARGET, NEW).endswith("COPY GRANTS")
    assert sql.swap_sql(TARGET, NEW) == f"ALTER TABLE {TARGET.sql} SWAP WITH {NEW}"


def test_comments_and_constraints_reach_the_ddl() -> None:
    ddl = sql.create_table_sql(TARGET)
    assert "\"ID\" NUMBER(19,0) NOT NULL COMMENT 'the key'" in ddl
    assert "COMMENT 'it''s quoted'" in ddl
    assert 'PRIMARY KEY ("ID")' in ddl
    assert ddl.endswith("COMMENT = 'Orders; O''Reilly''s'")


def _existing(
    name: str,
    data_type: str,
    length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
) -> sql.ExistingColumn:
    return sql.ExistingColumn(name, data_type, length, precision, scale)


def test_evolution_adds_new_columns_and_widens_in_place() -> None:
    existing = [
        _existing("ID", "NUMBER", precision=10, scale=0),
        _existing("NOTE", "TEXT", length=20),
        _existing("DOC", "VARIANT"),
        _existing("TAGS", "VARIANT"),  # a VARIANT holds an array: compatible
        _existing("RAW", "BINARY"),
        _existing("UPDATED_AT", "TIMESTAMP_TZ"),
        _existing("MixedCase", "NUMBER", precision=12, scale=2),
        _existing("DROPPED_IN_SOURCE", "TEXT"),
    ]
    statements = sql.evolution_statements(TARGET, existing)
    assert statements == [
        f'ALTER TABLE {TARGET.sql} ALTER COLUMN "ID" SET DATA TYPE NUMBER(19,0)',
        f'ALTER TABLE {TARGET.sql} ALTER COLUMN "NOTE" SET DATA TYPE VARCHAR(40)',
    ]


def test_evolution_adds_a_missing_column_with_its_comment() -> None:
    existing = [_existing(c.name, "NUMBER", precision=38, scale=0) for c in TARGET.columns if c.name == "ID"]
    statements = sql.evolution_statements(TARGET, existing)
    assert f"ALTER TABLE {TARGET.sql} ADD COLUMN \"NOTE\" VARCHAR(40) COMMENT 'it''s quoted'" in statements
    assert len(statements) == len(TARGET.columns) - 1


@pytest.mark.parametrize(
    ("column", "existing"),
    [
        ("NOTE", _existing("NOTE", "NUMBER", precision=10, scale=0)),
        ("MixedCase", _existing("MixedCase", "NUMBER", precision=12, scale=1)),
        ("UPDATED_AT", _existing("UPDATED_AT", "TIMESTAMP_NTZ")),
        ("DOC", _existing("DOC", "TEXT")),
    ],
)
def test_an_incompatible_change_is_rejected_naming_table_and_column(column: str, existing: sql.ExistingColumn) -> None:
    others = [_existing(c.name, "VARIANT") for c in TARGET.columns if c.name != column]
    with pytest.raises(TargetSchemaError) as caught:
        sql.evolution_statements(TARGET, [*others[:0], existing])
    assert caught.value.fields["column"] == column
    assert caught.value.fields["table"] == "PUBLIC.ORDERS"


def test_a_narrower_source_number_fits_without_change() -> None:
    target = TargetTable("D", "S", "T", (TargetColumn("N", "n", "NUMBER(10,2)", "NUMBER(10,2)", "{col}"),), ())
    assert sql.evolution_statements(target, [_existing("N", "NUMBER", precision=12, scale=4)]) == []


PARTS = [
    StagedPart(0, "p/s.t/r/part-00000.parquet", "s.t/r/part-00000.parquet", 10, 100),
    StagedPart(1, "p/s.t/r/part-00001.parquet", "s.t/r/part-00001.parquet", 5, 50),
]


def test_copy_results_must_match_every_staged_part() -> None:
    results = [
        sql.CopyFileResult("s3://b/p/s.t/r/part-00000.parquet", "LOADED", 10, 10),
        sql.CopyFileResult("s3://b/p/s.t/r/part-00001.parquet", "LOADED", 5, 5),
    ]
    assert sql.check_copy_results(PARTS, results, table="s.t", run_id="r") == 15


def test_a_copy_row_count_mismatch_is_detected() -> None:
    results = [
        sql.CopyFileResult("s3://b/p/s.t/r/part-00000.parquet", "LOADED", 10, 10),
        sql.CopyFileResult("s3://b/p/s.t/r/part-00001.parquet", "LOADED", 4, 4),
    ]
    with pytest.raises(ValidationError) as caught:
        sql.check_copy_results(PARTS, results, table="s.t", run_id="r")
    assert caught.value.fields["file"] == "s.t/r/part-00001.parquet"
    assert caught.value.fields["rows_staged"] == 5


def test_a_file_missing_from_the_copy_result_is_detected() -> None:
    results = [sql.CopyFileResult("s3://b/p/s.t/r/part-00000.parquet", "LOADED", 10, 10)]
    with pytest.raises(ValidationError, match="did not report"):
        sql.check_copy_results(PARTS, results, table="s.t", run_id="r")


def test_aggregate_mismatch_names_what_differs() -> None:
    expected = {"count": 3, "min(ID)": 1, "sum(MixedCase)": Decimal("10.50")}
    sql.compare_aggregates(expected, (3, 1, Decimal("10.50")), SPECS, where="target", table="t", run_id="r")
    with pytest.raises(ValidationError) as caught:
        sql.compare_aggregates(expected, (3, 1, Decimal("10.49")), SPECS, where="target", table="t", run_id="r")
    assert caught.value.fields["check"] == "sum(MixedCase)"


def test_an_incompatible_column_gets_the_first_version_that_takes_its_type() -> None:
    note_is_varchar = TargetTable(
        "D", "S", "T", (TargetColumn("NOTE", "note", "VARCHAR(40)", "VARCHAR(40)", "{col}"),), ()
    )
    number = _existing("NOTE", "NUMBER", precision=10, scale=0)

    assert sql.versioned_columns(note_is_varchar, [number], keep=[]) == {"NOTE": "NOTE__V2"}
    assert sql.versioned_columns(note_is_varchar, [number, _existing("NOTE__V2", "TEXT")], keep=[]) == {
        "NOTE": "NOTE__V2"
    }
    assert sql.versioned_columns(
        note_is_varchar, [number, _existing("NOTE__V2", "BOOLEAN"), _existing("NOTE__V3", "TEXT")], keep=[]
    ) == {"NOTE": "NOTE__V3"}
    assert sql.versioned_columns(note_is_varchar, [number], keep=["NOTE"]) == {}
    assert sql.versioned_columns(note_is_varchar, [_existing("NOTE", "TEXT", length=20)], keep=[]) == {}


@pytest.mark.parametrize(
    "statement",
    [
        sql.insert_overwrite_sql(TARGET, STAGING),
        sql.show_grants_on_table_sql(TARGET),
        sql.role_in_session_sql("LOADER's"),
        sql.show_streams_sql(TARGET),
    ],
)
def test_full_refresh_statements_parse_as_snowflake(statement: str) -> None:
    parsed = sqlglot.parse(statement, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == 1
    assert parsed[0] is not None


def test_insert_overwrite_names_every_column_and_converts_like_the_swap_insert() -> None:
    overwrite = sql.insert_overwrite_sql(TARGET, STAGING)
    assert overwrite.startswith(f"INSERT OVERWRITE INTO {TARGET.sql} (")
    swap_insert = sql.insert_from_staging_sql(TARGET, NEW, STAGING)
    assert overwrite.split(f"INTO {TARGET.sql} ", 1)[1] == swap_insert.split(f"INTO {NEW} ", 1)[1]


def test_not_null_is_dropped_on_columns_the_loader_no_longer_fills() -> None:
    nullable_id = TARGET.columns[0]
    existing = [
        sql.ExistingColumn("GONE", "TEXT", None, None, None, nullable=False),  # dropped or excluded
        sql.ExistingColumn("KEPT_NULLABLE", "TEXT", None, None, None, nullable=True),
        sql.ExistingColumn(nullable_id.name, "NUMBER", None, 38, 0, nullable=False),
    ]
    relaxed = sql.relax_not_null(TARGET, existing)
    assert relaxed[0] == f'ALTER TABLE {TARGET.sql} ALTER COLUMN "GONE" DROP NOT NULL'
    expected_id = (
        []
        if not nullable_id.nullable
        else [f'ALTER TABLE {TARGET.sql} ALTER COLUMN "{nullable_id.name}" DROP NOT NULL']
    )
    assert relaxed[1:] == expected_id
    assert sql.ExistingColumn.from_row(("A", "TEXT", None, None, None, "NO")).nullable is False
    assert sql.ExistingColumn.from_row(("A", "TEXT", None, None, None, "YES")).nullable is True
