"""Per-batch observations made while the stream passes: counts, cheap aggregates for
validation, NULL watermark rows and clamped out-of-range values. Nothing here holds rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aurora_batch.logic.extract import ExtractColumn
from aurora_batch.logic.load import AggregateSpec

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
        arrow_type = column.ctype.arrow_type
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

    def observe(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for spec in self.specs:
            column = batch.column(spec.column)
            if spec.function == "sum":
                total = pc.sum(column.cast(pa.decimal128(38, column.type.scale)) if pa.types.is_decimal(column.type) else column.cast(pa.int64())).as_py()
                if total is not None:
                    previous = self.values.get(spec.label)
                    self.values[spec.label] = Decimal(total) + (previous or 0) if previous is not None else Decimal(total)
            else:
                found = (pc.min if spec.function == "min" else pc.max)(column).as_py()
                if found is not None:
                    previous = self.values.get(spec.label)
                    if previous is None:
                        self.values[spec.label] = found
                    else:
                        self.values[spec.label] = min(previous, found) if spec.function == "min" else max(previous, found)
        if self.watermark_column is not None:
            column = batch.column(self.watermark_column)
            self.null_watermark_rows += column.null_count
            if batch.num_rows:
                self.last_watermark_value = column[batch.num_rows - 1].as_py()
        if self.key_columns and batch.num_rows:
            last = batch.num_rows - 1
            self.last_key = [_key_text(batch.column(name)[last].as_py()) for name in self.key_columns]
        for name, sentinels in self.clamped_sentinels.items():
            column = batch.column(name)
            hits = 0
            for sentinel in sentinels:
                hits += pc.sum(pc.equal(column, pa.scalar(sentinel, type=column.type))).as_py() or 0
            if hits:
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


def _key_text(value: Any) -> str:
    """A key value as text PostgreSQL reads back with a cast to the column's type."""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
