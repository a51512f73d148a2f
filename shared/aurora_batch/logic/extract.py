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
        # SQL from quote_pg identifiers, sqlglot-rendered where (bandit B608)
        sql = f"SELECT {select_list} FROM {self.table.ref.pg_sql}"  # noqa: S608  # nosec B608
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
        check_size_limits(batch, plan, table_name)
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


# Snowflake's largest values, in bytes: VARCHAR and VARIANT 16 MB, BINARY 8 MB.
# https://docs.snowflake.com/en/sql-reference/data-types-text ,
# https://docs.snowflake.com/en/sql-reference/data-types-semistructured
VARCHAR_MAX_BYTES = 16 * 1024 * 1024
VARIANT_MAX_BYTES = 16 * 1024 * 1024
BINARY_MAX_BYTES = 8 * 1024 * 1024


def size_limit(column: ExtractColumn) -> tuple[int, int] | None:
    """(largest value in bytes, staged bytes per value byte) of the column's Snowflake type."""
    snowflake_type = column.ctype.snowflake_type
    if snowflake_type == "BINARY":
        return BINARY_MAX_BYTES, 2  # staged as hex text
    if snowflake_type in ("VARIANT", "ARRAY", "OBJECT"):
        return VARIANT_MAX_BYTES, 1
    if snowflake_type.startswith("VARCHAR"):
        return VARCHAR_MAX_BYTES, 1
    return None


def check_size_limits(batch: pa.RecordBatch, plan: ExtractPlan, table_name: str) -> None:
    """Fail, naming table, column and row key, on a value Snowflake cannot hold (its COPY would
    fail later without naming the row)."""
    for index, column in enumerate(plan.columns):
        limit = size_limit(column)
        values = batch.column(index)
        if limit is None or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        max_bytes, staged_per_byte = limit
        lengths = pc.binary_length(values)
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= max_bytes * staged_per_byte:
            continue
        row = pc.index(lengths, longest).as_py()
        key = {
            c.source.name: str(batch.column(i)[row].as_py())
            for i, c in enumerate(plan.columns)
            if c.source.name in plan.table.primary_key
        }
        raise ValueConversionError(
            f"{table_name}.{column.source.name}: the value in the row with key {key} has "
            f"{longest // staged_per_byte} bytes, more than Snowflake's {column.ctype.snowflake_type} "
            f"holds ({max_bytes} bytes)",
            table=table_name,
            column=column.source.name,
            key=key,
            limit_bytes=max_bytes,
        )


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
