"""Load: turn staged parts into a correct Snowflake table.

Every statement is built by a pure function here (a unit test parses each with sqlglot's
Snowflake dialect) and run through an injected session. Readers of the target never see
it empty, partial or duplicated:
- incremental: COPY into a transient staging table, then one MERGE (atomic by itself);
- full refresh: COPY into staging, build a new table LIKE the target with its grants,
  validate it, then ALTER TABLE ... SWAP WITH (atomic), then drop the old copy.
The validation aggregates live in logic/validate.py; the target's column types (which change
of type applies in place) in logic/target_types.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aurora_batch.errors import LoadError, TargetSchemaError, ValidationError
from aurora_batch.logic.target_types import INCOMPATIBLE, existing_type, parse_type, render_type, widening
from aurora_batch.logic.target_types import ExistingColumn as ExistingColumn  # re-exported: callers use load's names
from aurora_batch.logic.validate import AggregateSpec as AggregateSpec  # re-exported: callers use load's names
from aurora_batch.logic.validate import aggregates_sql as aggregates_sql
from aurora_batch.logic.validate import compare_aggregates as compare_aggregates
from aurora_batch.model import StagedPart, TargetColumn, TargetTable, quote_sf

logger = logging.getLogger(__name__)

MAX_FILES_PER_COPY = 1000  # Snowflake's limit for FILES=(...)
SEMI_STRUCTURED = {"VARIANT", "ARRAY", "OBJECT"}
# How the CSV stager (pyarrow's CSV writer) spells dates and times; a timestamptz is written as its
# UTC wall clock (see logic/stage.py) and read in the session's TIMEZONE, which is UTC.
CSV_DATE_FORMAT = "YYYY-MM-DD"
CSV_TIME_FORMAT = "HH24:MI:SS.FF6"
CSV_TIMESTAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS.FF6"


class SqlSession(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]: ...


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# --- DDL -------------------------------------------------------------------------------


def column_ddl(column: TargetColumn, *, staged: bool = False) -> str:
    sql_type = column.staged_type if staged else column.sql_type
    ddl = f"{quote_sf(column.name)} {sql_type}"
    if not staged and not column.nullable:
        ddl += " NOT NULL"
    if not staged and column.comment:
        ddl += f" COMMENT {literal(column.comment)}"
    return ddl


def create_table_sql(target: TargetTable) -> str:
    columns = [column_ddl(c) for c in target.columns]
    if target.primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(quote_sf(k) for k in target.primary_key)})")
    sql = f"CREATE TABLE IF NOT EXISTS {target.sql} ({', '.join(columns)})"
    if target.comment:
        sql += f" COMMENT = {literal(target.comment)}"
    return sql


def comment_table_sql(target: TargetTable) -> str:
    return f"COMMENT ON TABLE {target.sql} IS {literal(target.comment or '')}"


def create_staging_sql(target: TargetTable, staging: str) -> str:
    columns = ", ".join(column_ddl(c, staged=True) for c in target.columns)
    return f"CREATE TRANSIENT TABLE IF NOT EXISTS {staging} ({columns}) DATA_RETENTION_TIME_IN_DAYS = 0"


def drop_table_sql(name: str) -> str:
    return f"DROP TABLE IF EXISTS {name}"


def describe_columns_sql(target: TargetTable) -> str:
    return (
        # SQL from quote_sf identifiers, escaped literals (bandit B608)
        "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE "  # noqa: S608  # nosec B608
        f"FROM {quote_sf(target.database)}.INFORMATION_SCHEMA.COLUMNS "
        f"WHERE TABLE_SCHEMA = {literal(target.schema)} AND TABLE_NAME = {literal(target.name)} "
        "ORDER BY ORDINAL_POSITION"
    )


def table_exists_sql(target: TargetTable, name: str | None = None) -> str:
    return (
        # SQL from quote_sf identifiers, escaped literals (bandit B608)
        f"SELECT COUNT(*) FROM {quote_sf(target.database)}.INFORMATION_SCHEMA.TABLES "  # noqa: S608  # nosec B608
        f"WHERE TABLE_SCHEMA = {literal(target.schema)} AND TABLE_NAME = {literal(name or target.name)}"
    )


# --- schema evolution ------------------------------------------------------------------


def evolution_statements(target: TargetTable, existing: Sequence[ExistingColumn]) -> list[str]:
    """The ALTERs that bring an existing target up to the source's shape.

    Everything is checked before anything is returned, so an incompatible change alters
    nothing. A column dropped from the source stays in the target (NULL for new rows), so
    NOT NULL is dropped wherever the loader stops supplying a value: see `relax_not_null`.
    """
    by_name = {c.name: c for c in existing}
    statements: list[str] = []
    for column in target.columns:
        current = by_name.get(column.name)
        if current is None:
            add = f"ALTER TABLE {target.sql} ADD COLUMN {quote_sf(column.name)} {column.sql_type}"
            if column.comment:
                add += f" COMMENT {literal(column.comment)}"
            statements.append(add)
            continue
        have, want = existing_type(current), parse_type(column.sql_type)
        widen = widening(have, want)
        if widen is INCOMPATIBLE:
            raise TargetSchemaError(
                f"column {column.name} of {target.name} is {render_type(have)} in Snowflake but the source now needs "
                f"{column.sql_type}; this change cannot be applied in place",
                table=f"{target.schema}.{target.name}",
                column=column.name,
                target_type=render_type(have),
                source_type=column.sql_type,
            )
        if widen:
            statements.append(
                f"ALTER TABLE {target.sql} ALTER COLUMN {quote_sf(column.name)} SET DATA TYPE {column.sql_type}"
            )
    return statements + relax_not_null(target, existing)


def relax_not_null(target: TargetTable, existing: Sequence[ExistingColumn]) -> list[str]:
    """DROP NOT NULL on each NOT NULL target column the loader no longer fills: dropped from the
    source, excluded by configuration, replaced by a versioned column, or nullable in the source.
    Rows loaded from now on leave such a column NULL, which Snowflake would reject."""
    wanted = {c.name: c for c in target.columns}
    statements = []
    for current in existing:
        if current.nullable:
            continue
        column = wanted.get(current.name)
        if column is None or column.nullable:
            statements.append(f"ALTER TABLE {target.sql} ALTER COLUMN {quote_sf(current.name)} DROP NOT NULL")
    return statements


VERSION_SEPARATOR = "__V"


def versioned_columns(target: TargetTable, existing: Sequence[ExistingColumn], keep: Sequence[str]) -> dict[str, str]:
    """Target column -> the versioned column that takes its values from now on, for each column whose
    type changed in a way that cannot be applied in place (columns in `keep` are left to fail).

    The first version is `<NAME>__V2`; a version that already exists with a type the source fits
    into is reused, so later runs keep loading the same column.
    """
    by_name = {c.name: c for c in existing}
    chosen: dict[str, str] = {}
    for column in target.columns:
        current = by_name.get(column.name)
        if current is None or column.name in keep:
            continue
        want = parse_type(column.sql_type)
        if widening(existing_type(current), want) is not INCOMPATIBLE:
            continue
        version = 2
        while True:
            candidate = f"{column.name}{VERSION_SEPARATOR}{version}"
            found = by_name.get(candidate)
            if found is None or widening(existing_type(found), want) is not INCOMPATIBLE:
                chosen[column.name] = candidate
                break
            version += 1
    return chosen


# --- COPY ------------------------------------------------------------------------------


def copy_into_sql(staging: str, stage: str, files: Sequence[str], file_format: str) -> str:
    file_list = ", ".join(literal(f) for f in files)
    if file_format == "parquet":
        # Without USE_LOGICAL_TYPE, Snowflake reads a timestamp or time that has only a logical type
        # as INT64, and a UTC timestamp as a wall-clock time in the session's time zone.
        fmt = "FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE"
    else:
        # Pinned formats: AUTO would follow the account's *_INPUT_FORMAT parameters.
        fmt = (
            "FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '\"' "
            "EMPTY_FIELD_AS_NULL = TRUE NULL_IF = () ESCAPE_UNENCLOSED_FIELD = NONE "
            f"DATE_FORMAT = {literal(CSV_DATE_FORMAT)} TIME_FORMAT = {literal(CSV_TIME_FORMAT)} "
            f"TIMESTAMP_FORMAT = {literal(CSV_TIMESTAMP_FORMAT)})"
        )
    return f"COPY INTO {staging} FROM @{stage} FILES = ({file_list}) {fmt} ON_ERROR = ABORT_STATEMENT"


@dataclass(frozen=True)
class CopyFileResult:
    file: str
    status: str
    rows_parsed: int
    rows_loaded: int


def check_copy_results(
    parts: Sequence[StagedPart], results: Sequence[CopyFileResult], *, table: str, run_id: str
) -> int:
    """Every staged part loaded exactly the rows it was staged with; returns rows loaded."""
    by_path: dict[str, CopyFileResult] = {}
    for result in results:
        for part in parts:
            if result.file == part.stage_path or result.file.endswith("/" + part.stage_path):
                by_path[part.stage_path] = result
    loaded = 0
    for part in parts:
        found = by_path.get(part.stage_path)
        if found is None:
            raise ValidationError("COPY did not report a staged file", table=table, run_id=run_id, file=part.stage_path)
        result = found
        if result.status.upper() != "LOADED" or result.rows_loaded != part.rows:
            raise ValidationError(
                f"COPY loaded {result.rows_loaded} rows from {part.stage_path} but {part.rows} were staged "
                f"(status {result.status})",
                table=table,
                run_id=run_id,
                file=part.stage_path,
                rows_staged=part.rows,
                rows_loaded=result.rows_loaded,
            )
        loaded += result.rows_loaded
    return loaded


# --- MERGE and full refresh --------------------------------------------------------------


def _select_from_staging(target: TargetTable, staging: str) -> str:
    projections = ", ".join(
        f"{c.load_expression.format(col=quote_sf(c.name))} AS {quote_sf(c.name)}" for c in target.columns
    )
    # SQL from quote_sf identifiers, escaped literals (bandit B608)
    return f"SELECT {projections} FROM {staging}"  # noqa: S608  # nosec B608


def merge_sql(target: TargetTable, staging: str, keys: Sequence[str], order_column: str | None) -> str:
    """Deduplicate the staging rows by key (newest incremental value wins) and MERGE them."""
    partition = ", ".join(quote_sf(k) for k in keys)
    order = f"{quote_sf(order_column)} DESC NULLS LAST" if order_column else partition
    newest = f"ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {order}) = 1"
    source = f"{_select_from_staging(target, staging)} QUALIFY {newest}"
    on = " AND ".join(f"t.{quote_sf(k)} IS NOT DISTINCT FROM s.{quote_sf(k)}" for k in keys)
    names = [quote_sf(c.name) for c in target.columns]
    updates = ", ".join(f"t.{n} = s.{n}" for n in names if n not in {quote_sf(k) for k in keys})
    matched = "WHEN MATCHED"
    if order_column:
        # Never let an older copy of a row overwrite a newer one (e.g. a replayed part).
        oc = quote_sf(order_column)
        matched += f" AND (t.{oc} IS NULL OR s.{oc} >= t.{oc})"
    # SQL from quote_sf identifiers, escaped literals (bandit B608)
    update_clause = f" {matched} THEN UPDATE SET {updates}" if updates else ""  # nosec B608
    return (
        # SQL from quote_sf identifiers, escaped literals (bandit B608)
        f"MERGE INTO {target.sql} AS t USING ({source}) AS s ON {on}{update_clause} "  # noqa: S608
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})"
    )


def create_like_sql(target: TargetTable, new_table: str) -> str:
    # COPY GRANTS: the new table carries the target's grants, which SWAP WITH then keeps in place.
    return f"CREATE OR REPLACE TABLE {new_table} LIKE {target.sql} COPY GRANTS"


def insert_from_staging_sql(target: TargetTable, destination: str, staging: str) -> str:
    names = ", ".join(quote_sf(c.name) for c in target.columns)
    return f"INSERT INTO {destination} ({names}) {_select_from_staging(target, staging)}"


def swap_sql(target: TargetTable, new_table: str) -> str:
    return f"ALTER TABLE {target.sql} SWAP WITH {new_table}"


def insert_overwrite_sql(target: TargetTable, staging: str) -> str:
    """Replace the target's rows in one transaction; the table object (grants, ownership, streams,
    Time Travel, tags, policies) stays. Readers see the old rows until it commits."""
    names = ", ".join(quote_sf(c.name) for c in target.columns)
    return f"INSERT OVERWRITE INTO {target.sql} ({names}) {_select_from_staging(target, staging)}"


def show_grants_on_table_sql(target: TargetTable) -> str:
    return f"SHOW GRANTS ON TABLE {target.sql}"


def role_in_session_sql(role: str) -> str:
    return f"SELECT IS_ROLE_IN_SESSION({literal(role)})"


def show_streams_sql(target: TargetTable) -> str:
    return f"SHOW STREAMS IN DATABASE {quote_sf(target.database)}"


def parse_copy_results(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[CopyFileResult]:
    index = {name: i for i, name in enumerate(names)}
    if "file" not in index:
        # "Copy executed with 0 files processed."
        return []
    try:
        return [
            CopyFileResult(
                file=str(row[index["file"]]),
                status=str(row[index["status"]]),
                rows_parsed=int(row[index["rows_parsed"]]),
                rows_loaded=int(row[index["rows_loaded"]]),
            )
            for row in rows
        ]
    except (KeyError, ValueError, TypeError) as exc:
        raise LoadError("unexpected COPY result shape", columns=",".join(names)) from exc
