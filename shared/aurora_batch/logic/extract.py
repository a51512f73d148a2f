"""Extract: turn the record batches of a binary COPY into the plan's Arrow types.

The adapter streams `COPY (SELECT ...) TO STDOUT (FORMAT binary)` decoded into Arrow by the ADBC
PostgreSQL driver. Here each column is brought to the type the mapping stages it as, with Arrow
compute only (no Python per value); a numeric that does not fit its decimal fails naming the
column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from aurora_batch.errors import ValueConversionError
from aurora_batch.model import SourceColumn, SourceTable, quote_pg
from aurora_batch.typemap import ColumnType, column_type


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
    raw_batches: Iterable[pa.RecordBatch],
    plan: ExtractPlan,
    *,
    batch_rows: int,
    table_name: str = "",
) -> Iterator[pa.RecordBatch]:
    """Conform the COPY's record batches to `plan.schema`, in batches of at most `batch_rows` rows."""
    schema = plan.schema
    for raw in raw_batches:
        if raw.num_columns != len(plan.columns):
            raise ValueConversionError(
                f"the extract of {table_name} returned {raw.num_columns} columns, expected {len(plan.columns)}",
                table=table_name,
            )
        columns = [conform_column(column, raw.column(index), table_name) for index, column in enumerate(plan.columns)]
        batch = pa.RecordBatch.from_arrays(columns, schema=schema)
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


def conform_column(column: ExtractColumn, values: pa.Array, table_name: str) -> pa.Array:
    """One column as the driver decoded it, in the Arrow type the mapping stages it as."""
    target = column.ctype.arrow_type
    if isinstance(values, pa.ExtensionArray):  # json and jsonb arrive as text in an extension type
        values = values.storage
    if values.type == target:
        return values
    try:
        # safe cast: a decimal that would lose digits or overflow its precision raises
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueConversionError(
            f"a value in {table_name}.{column.source.name} cannot be represented losslessly as {target}: {exc}",
            table=table_name,
            column=column.source.name,
        ) from exc


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
