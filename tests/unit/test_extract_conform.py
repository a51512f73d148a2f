"""Conforming the driver's record batches to the staged types: exact, or a named failure."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from aurora_batch.errors import ValueConversionError
from aurora_batch.logic.extract import ExtractPlan, plan_columns, read_batches
from aurora_batch.model import SourceColumn, SourceTable, TableRef

TABLE = SourceTable(
    ref=TableRef("sales", "orders"),
    columns=(
        SourceColumn("id", "bigint", "int8", "N", False, 1),
        SourceColumn("amount", "numeric(6,2)", "numeric", "N", True, 2, numeric_precision=6, numeric_scale=2),
        SourceColumn("body", "jsonb", "jsonb", "U", True, 3),
        SourceColumn("note", "text", "text", "S", True, 4),
    ),
    primary_key=("id",),
)
PLAN = ExtractPlan(TABLE, plan_columns(TABLE, {"id": "ID", "amount": "AMOUNT", "body": "BODY", "note": "NOTE"}))


class JsonType(pa.ExtensionType):
    """What the ADBC driver hands back for json and jsonb: text in an extension type."""

    def __init__(self) -> None:
        super().__init__(pa.string(), "arrow.json.test")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> JsonType:
        return cls()


def _driver_batch(amounts: list[str | None], rows: int | None = None) -> pa.RecordBatch:
    count = len(amounts) if rows is None else rows
    return pa.RecordBatch.from_arrays(
        [
            pa.array(range(1, count + 1), pa.int64()),
            pa.array(amounts, pa.string()),
            pa.ExtensionArray.from_storage(JsonType(), pa.array(['{"a": [1, "x"]}'] * count, pa.string())),
            pa.array(['said "hi", then\nleft'] * count, pa.string()),
        ],
        names=["id", "amount", "body", "note"],
    )


def test_a_driver_batch_becomes_the_staged_schema_value_for_value() -> None:
    [batch] = list(read_batches([_driver_batch(["1234.5", None, "-0.01"])], PLAN, batch_rows=10, table_name="t"))

    assert batch.schema == PLAN.schema
    assert batch.column(1).to_pylist() == [Decimal("1234.50"), None, Decimal("-0.01")]
    assert batch.column(2).to_pylist() == ['{"a": [1, "x"]}'] * 3
    assert batch.column(3).to_pylist() == ['said "hi", then\nleft'] * 3


def test_batches_are_cut_to_batch_size_rows() -> None:
    batches = list(read_batches([_driver_batch(["1"] * 25)], PLAN, batch_rows=10, table_name="t"))

    assert [batch.num_rows for batch in batches] == [10, 10, 5]


@pytest.mark.parametrize("value", ["1.555", "12345.00", "NaN", "Infinity"])
def test_a_numeric_that_would_round_or_overflow_fails_naming_the_column(value: str) -> None:
    with pytest.raises(ValueConversionError) as raised:
        list(read_batches([_driver_batch(["1.00", value])], PLAN, batch_rows=10, table_name="sales.orders"))

    assert raised.value.fields["column"] == "amount"
    assert raised.value.fields["table"] == "sales.orders"
    assert "sales.orders.amount" in str(raised.value)
