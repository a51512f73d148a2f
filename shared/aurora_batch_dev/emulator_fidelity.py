"""Fidelity patches for fakesnow 0.11.18 where it answers differently from real Snowflake.

Unlike the statement shims (snowflake_shims), these correct fakesnow's own behaviour for
statements it does run. Each patch names what real Snowflake does. They are applied once,
in the emulator process only; production code never sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

PATCHES: list[str] = []


def _register(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def wrap(apply: Callable[[], None]) -> Callable[[], None]:
        PATCHES.append(name)
        return apply

    return wrap


@_register("null_timestamps_in_results")
def keep_null_timestamps_in_results() -> None:
    """Snowflake returns NULL for a NULL TIMESTAMP_*; fakesnow's Arrow result encoding builds the
    (epoch, fraction[, timezone]) struct without a validity mask, so NULL reads back as 1970-01-01."""
    import fakesnow.arrow as fakesnow_arrow

    original: Callable[[Any], pa.Array] = fakesnow_arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if ts.null_count == 0:
            return original(ts)
        filled = pc.fill_null(ts, pa.scalar(0, type=ts.type))
        struct = original(filled)
        return pa.StructArray.from_arrays(
            [struct.field(i) for i in range(struct.type.num_fields)],
            fields=list(struct.type),
            mask=pc.is_null(ts),
        )

    fakesnow_arrow.timestamp_to_sf_struct = timestamp_to_sf_struct


@_register("exact_numeric_aggregates")
def exact_numeric_aggregates() -> None:
    """Snowflake's SUM/AVG of NUMBER is exact; fakesnow wraps every numeric aggregate's argument in
    TRY_CAST(... AS DOUBLE) (to mimic Snowflake's implicit VARCHAR-to-number cast), which rounds
    large integers and decimals. This keeps DuckDB's exact aggregates; the implicit cast of VARCHAR
    arguments is then not emulated (the product never aggregates text)."""
    import fakesnow.transforms as fakesnow_transforms

    def numeric_agg_implicit_cast(expression: Any) -> Any:
        return expression

    fakesnow_transforms.numeric_agg_implicit_cast = numeric_agg_implicit_cast


@_register("csv_file_format_options")
def csv_file_format_options() -> None:
    """Snowflake's CSV file format takes COMPRESSION, EMPTY_FIELD_AS_NULL, NULL_IF and
    ESCAPE_UNENCLOSED_FIELD (and DATE_FORMAT, TIME_FORMAT, TIMESTAMP_FORMAT); fakesnow rejects
    them. This reads them and maps them onto DuckDB's
    read_csv: gzip by name, only an unquoted empty field is NULL (a quoted "" stays an empty string,
    as with EMPTY_FIELD_AS_NULL = TRUE and FIELD_OPTIONALLY_ENCLOSED_BY), and every field is read as
    text so the target column's type converts it, as Snowflake does."""
    import dataclasses

    import fakesnow.copy_into as copy_into
    import snowflake.connector.errors
    from sqlglot import exp

    @dataclasses.dataclass
    class SnowflakeCsv(copy_into.ReadCSV):
        compression: str = "auto"

        def read_expression(self, url: str) -> Any:
            call = super().read_expression(url)
            call.append("expressions", self.make_eq("compression", self.compression))
            call.append("expressions", self.make_eq("allow_quoted_nulls", False))
            call.append("expressions", self.make_eq("all_varchar", True))
            call.append("expressions", self.make_eq("escape", '"'))
            return call

    # DATE/TIME/TIMESTAMP_FORMAT are required (above) and not applied: the target column's cast
    # reads the ISO forms the loader pins, and nothing else.
    known = {"COMPRESSION", "EMPTY_FIELD_AS_NULL", "NULL_IF", "ESCAPE_UNENCLOSED_FIELD"}
    known |= {"DATE_FORMAT", "TIME_FORMAT", "TIMESTAMP_FORMAT"}
    original = copy_into.handle_csv

    def handle_csv(expressions: list[exp.Property]) -> Any:
        # A format left on AUTO follows the account's DATE/TIME/TIMESTAMP_INPUT_FORMAT, which an
        # account may set to anything; the emulator fails such a COPY, as that account would.
        # https://docs.snowflake.com/en/sql-reference/sql/create-file-format (DATE_FORMAT: AUTO)
        given = {expression.name for expression in expressions}
        on_auto = [name for name in ("DATE_FORMAT", "TIME_FORMAT", "TIMESTAMP_FORMAT") if name not in given]
        if on_auto:
            raise snowflake.connector.errors.ProgrammingError(
                msg=f"{', '.join(on_auto)} left on AUTO: CSV values are then read by the account's input "
                "formats, which need not be ISO (emulator fidelity: csv_file_format_options)",
                errno=100040,
                sqlstate="22007",
            )
        compression = "auto"
        for expression in expressions:
            if expression.name == "COMPRESSION":
                compression = str(expression.args["value"].name).lower()
        parsed = original([e for e in expressions if e.name not in known])
        return SnowflakeCsv(
            skip_header=parsed.skip_header,
            quote=parsed.quote,
            delimiter=parsed.delimiter,
            compression="gzip" if compression == "gzip" else "auto",
        )

    copy_into.handle_csv = handle_csv


@_register("inline_column_comments")
def inline_column_comments() -> None:
    """Snowflake records a column's inline ``COMMENT '..'`` in CREATE TABLE and in ALTER TABLE ..
    ADD COLUMN (INFORMATION_SCHEMA.COLUMNS.COMMENT); fakesnow drops it, as DuckDB's dialect has no
    inline comment. After fakesnow runs such a statement, this applies each one with DuckDB's
    COMMENT ON COLUMN. A CREATE TABLE IF NOT EXISTS that finds the table changes nothing, as in
    Snowflake (fakesnow would also overwrite the table's comment)."""
    from fakesnow.cursor import FakeSnowflakeCursor
    from sqlglot import exp

    original: Callable[..., None] = FakeSnowflakeCursor._execute

    def take_column_comments(statement: exp.Expr) -> list[tuple[str, str]]:
        """Remove the inline comments from the statement (DuckDB cannot run them) and return them."""
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            definitions = statement.this.expressions
        elif isinstance(statement, exp.Alter):
            definitions = statement.args.get("actions") or []
        else:
            return []
        comments = []
        for definition in definitions:
            if not isinstance(definition, exp.ColumnDef):
                continue
            for constraint in list(definition.constraints):
                if isinstance(constraint.kind, exp.CommentColumnConstraint):
                    comments.append((definition.name, constraint.kind.this.name))
                    constraint.pop()
        return comments

    def _execute(self: Any, transformed: exp.Expr, params: Any = None) -> None:
        comments = take_column_comments(transformed)
        table = transformed.find(exp.Table)
        if not comments or table is None:
            original(self, transformed, params)
            return
        duck = self._duck_conn
        names = [table.catalog or self._conn.database, table.db or self._conn.schema, table.name]
        if isinstance(transformed, exp.Create) and transformed.args.get("exists"):
            found = duck.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                names,
            ).fetchone()
            if found is not None:
                transformed.args.pop("table_comment", None)
                original(self, transformed, params)
                return
        original(self, transformed, params)
        qualified = ".".join(_duckdb_identifier(name) for name in names)
        for column, comment in comments:
            target = f"{qualified}.{_duckdb_identifier(column)}"
            duck.execute(f"COMMENT ON COLUMN {target} IS {_duckdb_string(comment)}")

    FakeSnowflakeCursor._execute = _execute  # type: ignore[method-assign]  # the patch itself


@_register("quoted_table_comments")
def quoted_table_comments() -> None:
    """Snowflake takes any table comment (``COMMENT = 'O''Reilly'``, ``COMMENT ON TABLE``) and shows
    NULL for a table without one; fakesnow pastes the comment unescaped into its own SQL, so a
    quote breaks the statement, and records a table created without a comment as 'None'."""
    import fakesnow.info_schema as info_schema

    def insert_table_comment_sql(catalog: str, schema: str, table: str, comment: str | None) -> str:
        values = ", ".join(
            "NULL" if value is None else _duckdb_string(value) for value in (catalog, schema, table, comment)
        )
        return (
            # SQL from names from the emulator's own catalog (bandit B608)
            f"INSERT INTO _fs_global._fs_information_schema._fs_tables_ext VALUES ({values}) "  # noqa: S608  # nosec B608
            "ON CONFLICT (ext_table_catalog, ext_table_schema, ext_table_name) "
            "DO UPDATE SET comment = excluded.comment"
        )

    info_schema.insert_table_comment_sql = insert_table_comment_sql


@_register("match_by_column_name_keeps_case")
def match_by_column_name_keeps_case() -> None:
    """Snowflake's COPY .. MATCH_BY_COLUMN_NAME = CASE_SENSITIVE loads a Parquet column into the
    table column of exactly its name ("MixedCase" into "MixedCase"); fakesnow upper-cases the
    table's column names before matching, so a mixed-case column silently loads as NULL. This keeps
    the names as they are, and matches CASE_INSENSITIVE on upper-cased names on both sides."""
    import fakesnow.copy_into as copy_into

    def get_table_columns(table: Any, duck_conn: Any, current_database: Any, current_schema: Any) -> list[str]:
        return [name for name, _ in copy_into._describe_table(table, duck_conn, current_database, current_schema)]

    def match_parquet_columns(
        parquet_col_names: list[str], target_columns: list[str], match_mode: copy_into.MatchByColumnName
    ) -> dict[str, str]:
        if match_mode == copy_into.MatchByColumnName.NONE:
            return {}
        if match_mode == copy_into.MatchByColumnName.CASE_SENSITIVE:
            return {column: column for column in target_columns if column in parquet_col_names}
        by_upper = {name.upper(): name for name in parquet_col_names}
        return {column: by_upper[column.upper()] for column in target_columns if column.upper() in by_upper}

    copy_into._get_table_columns = get_table_columns
    copy_into._match_parquet_columns = match_parquet_columns


def _duckdb_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def apply_all() -> list[str]:
    keep_null_timestamps_in_results()
    exact_numeric_aggregates()
    csv_file_format_options()
    inline_column_comments()
    quoted_table_comments()
    match_by_column_name_keeps_case()
    from aurora_batch_dev import emulator_strictness  # registers into PATCHES; imports this module

    emulator_strictness.apply_all()
    return list(PATCHES)
