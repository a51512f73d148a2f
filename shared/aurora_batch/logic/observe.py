"""Per-batch observations made while the stream passes: counts, cheap aggregates for
validation, NULL watermark rows and clamped out-of-range values. Nothing here holds rows."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aurora_batch.digest import HIDDEN_COLUMNS
from aurora_batch.logic.extract import ExtractColumn
from aurora_batch.logic.validate import AggregateSpec

_SUM_MAX_PRECISION = 28  # leaves 10 digits of headroom in NUMBER(38, s) for the sum itself


def aggregate_specs(columns: tuple[ExtractColumn, ...], key_columns: tuple[str, ...]) -> list[AggregateSpec]:
    """Which aggregates to compare: MIN/MAX of a numeric key, SUM of integer and decimal columns."""
    specs: list[AggregateSpec] = []
    by_source = {c.source.name: c for c in columns}
    if key_columns and key_columns[0] in by_source:
        key = by_source[key_columns[0]]
        if pa.types.is_integer(key.ctype.arrow_type):
            for function in ("min", "max"):
                specs.append(AggregateSpec(f"{function}({key.staged_name})", function, key.staged_name, "NUMBER(38,0)"))
    for column in columns:
        # Non-NULL values per column: a column that lands empty (or half empty) is caught too.
        specs.append(AggregateSpec(f"count({column.staged_name})", "count", column.staged_name, "NUMBER(38,0)"))
    for column in columns:
        arrow_type = column.ctype.arrow_type
        if column.staged_name in HIDDEN_COLUMNS:
            continue  # digest hashes: their count is checked above, their sum would add nothing
        if pa.types.is_integer(arrow_type):
            specs.append(AggregateSpec(f"sum({column.staged_name})", "sum", column.staged_name, "NUMBER(38,0)"))
        elif pa.types.is_decimal(arrow_type) and arrow_type.precision <= _SUM_MAX_PRECISION:
            cast = f"NUMBER(38,{arrow_type.scale})"
            specs.append(AggregateSpec(f"sum({column.staged_name})", "sum", column.staged_name, cast))
    return specs


@dataclass
class StreamObserver:
    """Accumulates, batch by batch, what the load is checked against."""

    specs: list[AggregateSpec]
    watermark_column: str | None = None  # staged name of the incremental column
    clamped_sentinels: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    rows: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    null_watermark_rows: int = 0
    clamped: dict[str, int] = field(default_factory=dict)
    last_watermark_value: Any = None
    key_columns: tuple[str, ...] = ()  # staged names of the key, in key order
    last_key: list[str] | None = None  # the key of the last row seen, as text (for resuming)
    last_position: tuple[Any, ...] | None = None  # the same values, typed (to compare parallel streams)

    def observe(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for spec in self.specs:
            value = _aggregate(spec.function, batch.column(spec.column))
            if value is not None:
                previous = self.values.get(spec.label)
                self.values[spec.label] = value if previous is None else _COMBINE[spec.function](previous, value)
        if batch.num_rows:
            self._track_position(batch)
        for name, sentinels in self.clamped_sentinels.items():
            hits = _count_equal(batch.column(name), sentinels)
            if hits:
                self.clamped[name] = self.clamped.get(name, 0) + hits

    def _track_position(self, batch: pa.RecordBatch) -> None:
        last = batch.num_rows - 1
        if self.watermark_column is not None:
            column = batch.column(self.watermark_column)
            self.null_watermark_rows += column.null_count
            self.last_watermark_value = column[last].as_py()
        if self.key_columns:
            self.last_position = tuple(batch.column(name)[last].as_py() for name in self.key_columns)
            self.last_key = [_key_text(value) for value in self.last_position]

    def absorb(self, other: StreamObserver) -> None:
        """Add what another stream of the same extract observed (counts, aggregates, NULLs, clamps)."""
        self.rows += other.rows
        for label, value in other.values.items():
            previous = self.values.get(label)
            function = next(s.function for s in self.specs if s.label == label)
            self.values[label] = value if previous is None else _COMBINE[function](previous, value)
        self.null_watermark_rows += other.null_watermark_rows
        for name, hits in other.clamped.items():
            self.clamped[name] = self.clamped.get(name, 0) + hits

    def expected(self) -> dict[str, Any]:
        return {"count": self.rows, **{s.label: self.values.get(s.label) for s in self.specs}}

    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "values": {k: str(v) for k, v in self.values.items()},
            "null_watermark_rows": self.null_watermark_rows,
            "clamped": dict(self.clamped),
        }

    def restore(self, saved: dict[str, Any]) -> None:
        self.rows = int(saved.get("rows", 0))
        self.values = {k: Decimal(v) for k, v in saved.get("values", {}).items()}
        self.null_watermark_rows = int(saved.get("null_watermark_rows", 0))
        self.clamped = {k: int(v) for k, v in saved.get("clamped", {}).items()}


_COMBINE: dict[str, Callable[[Any, Any], Any]] = {
    "count": operator.add,
    "sum": operator.add,
    "min": min,
    "max": max,
}


def _aggregate(function: str, column: pa.Array) -> Any:
    if function == "count":
        return len(column) - column.null_count
    if function == "sum":
        return _exact_sum(column)
    return (pc.min if function == "min" else pc.max)(column).as_py()


def _exact_sum(column: pa.Array) -> Decimal | None:
    """The exact sum: decimals sum into decimal128(38, s); an int64 sum could silently wrap, so its
    high and low 32-bit halves are summed apart (each exact in int64 for any batch) and combined."""
    if column.null_count == len(column):
        return None
    if pa.types.is_int64(column.type):
        low = pc.sum(pc.bit_wise_and(column, 0xFFFFFFFF)).as_py() or 0
        high = pc.sum(pc.shift_right(column, 32)).as_py() or 0
        return Decimal(high * (1 << 32) + low)
    total = pc.sum(column).as_py()
    return None if total is None else Decimal(total)


def _count_equal(column: pa.Array, sentinels: tuple[Any, ...]) -> int:
    return sum(pc.sum(pc.equal(column, pa.scalar(s, type=column.type))).as_py() or 0 for s in sentinels)


def _key_text(value: Any) -> str:
    """A key value as text PostgreSQL reads back with a cast to the column's type."""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
