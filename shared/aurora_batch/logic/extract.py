"""Extract: stream a PostgreSQL table out of COPY into Arrow record batches.

The CSV text that `COPY ... TO STDOUT (FORMAT csv)` produces is parsed by Arrow's
multithreaded CSV reader straight into typed columns; no Python code touches a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv

from aurora_batch.errors import ValueConversionError
from aurora_batch.model import SourceColumn, SourceTable, quote_pg
from aurora_batch.typemap import ColumnType, column_type

# Arrow parses the CSV stream in blocks of this size, a few at a time: peak memory follows it,
# and it is also the largest single row (as CSV text) the reader accepts (MAX_ROW_BYTES).
DEFAULT_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class ExtractColumn:
    source: SourceColumn
    ctype: ColumnType
    staged_name: str  # name of the column in the staged file (= the Snowflake column name)


@dataclass(frozen=True)
class ExtractPlan:
    """What to read: the columns, how each is selected, and which rows."""

    table: SourceTable
    columns: tuple[ExtractColumn, ...]
    predicates: tuple[str, ...] = ()  # SQL fragments ANDed together, already bound
    order_by: tuple[str, ...] = ()  # source column names
    limit: int | None = None

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.staged_name, c.ctype.arrow_type) for c in self.columns])

    def select_sql(self) -> str:
        select_list = ", ".join(c.ctype.select_sql for c in self.columns)
        sql = f"SELECT {select_list} FROM {self.table.ref.pg_sql}"
        if self.predicates:
            sql += " WHERE " + " AND ".join(f"({p})" for p in self.predicates)
        if self.order_by:
            sql += " ORDER BY " + ", ".join(quote_pg(name) for name in self.order_by)
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        return sql


def plan_columns(table: SourceTable, staged_names: dict[str, str]) -> tuple[ExtractColumn, ...]:
    """Map each selected source column (by name, in `staged_names` order) to its type."""
    return tuple(
        ExtractColumn(source=table.column(name), ctype=column_type(table.column(name)), staged_name=staged)
        for name, staged in staged_names.items()
    )


def read_batches(
    stream: IO[bytes],
    plan: ExtractPlan,
    *,
    batch_rows: int,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    table_name: str = "",
) -> Iterator[pa.RecordBatch]:
    """Parse the COPY csv stream into record batches of at most `batch_rows` rows."""
    names = [c.staged_name for c in plan.columns]
    peek = getattr(stream, "peek", None)
    if peek is not None and not peek(1):
        return  # no rows: Arrow refuses an empty CSV stream
    decimals = [i for i, c in enumerate(plan.columns) if pa.types.is_decimal(c.ctype.arrow_type)]
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=block_bytes, use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c.staged_name: c.ctype.arrow_type for c in plan.columns},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
                timestamp_parsers=[pacsv.ISO8601],
            ),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            for index in decimals:
                # Arrow's CSV parser does not check a decimal's precision: a value with too many
                # integer digits would arrive silently wrong. Full validation of the column does.
                try:
                    batch.column(index).validate(full=True)
                except pa.ArrowInvalid as exc:
                    raise pa.ArrowInvalid(f"In CSV column #{index}: {exc}") from exc
            for offset in range(0, batch.num_rows, batch_rows):
                yield batch.slice(offset, batch_rows)
    except pa.ArrowInvalid as exc:
        raise _conversion_error(exc, plan, table_name) from exc


def _conversion_error(exc: pa.ArrowInvalid, plan: ExtractPlan, table_name: str) -> ValueConversionError:
    """Name the column whose value could not be represented (Arrow says 'CSV column #N')."""
    message = str(exc)
    if "straddling" in message or "straddles" in message:
        # Arrow's block is the longest row it can read: the fix is MAX_ROW_BYTES, not the data.
        return ValueConversionError(
            f"a row of {table_name} is longer than MAX_ROW_BYTES; raise MAX_ROW_BYTES for this table",
            table=table_name,
            field="MAX_ROW_BYTES",
        )
    column: str | None = None
    marker = "CSV column #"
    if marker in message:
        digits = message.split(marker, 1)[1].split(":", 1)[0]
        if digits.isdigit() and int(digits) < len(plan.columns):
            column = plan.columns[int(digits)].source.name
    reason = message.split(": ", 1)[-1] if ": " in message else message
    return ValueConversionError(
        f"a value in {table_name}.{column} cannot be represented losslessly: {reason}",
        table=table_name,
        column=column,
    )


def column_offending_row_sql(plan: ExtractPlan, column: ExtractColumn) -> str | None:
    """A query that finds the key of one row whose value does not fit the column's target type.

    Used after a conversion failure to name the row; only numeric columns can fail this way.
    """
    source = column.source
    if source.type_name != "numeric" or not plan.table.primary_key:
        return None
    col = quote_pg(source.name)
    scale = column.ctype.arrow_type.scale
    precision = column.ctype.arrow_type.precision
    keys = ", ".join(quote_pg(k) for k in plan.table.primary_key)
    limit_integer_digits = precision - scale
    return (
        f"SELECT {keys} FROM {plan.table.ref.pg_sql} WHERE {col} = 'NaN'::numeric "
        f"OR {col} IN ('Infinity'::numeric, '-Infinity'::numeric) "
        f"OR {col} <> round({col}, {scale}) OR abs({col}) >= 1e{limit_integer_digits} LIMIT 1"
    )
