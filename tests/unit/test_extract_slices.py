"""Parallel extract: how a table is cut into block ranges, how many streams a function gets, and
where a run that stopped several streams resumes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from aurora_batch.config import settings_from_env
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.slices import (
    MIN_STREAM_BATCH_BYTES,
    MIN_STREAM_ROW_GROUP_ROWS,
    SliceSteps,
    StreamBudget,
    block_ranges,
    position_orders_like_postgres,
    stream_budget,
)
from aurora_batch.logic.validate import AggregateSpec

from tests.unit.test_config import BASE

MIB = 1 << 20


def test_ranges_cover_every_block_once_and_leave_both_ends_open() -> None:
    ranges = block_ranges(blocks=100, table_bytes=800 * MIB, streams=3, min_bytes=0)
    assert ranges == [(None, 33), (33, 66), (66, None)]
    # each range starts where the one before it ends: no block in two, none in none
    assert all(left[1] == right[0] for left, right in itertools.pairwise(ranges))


@pytest.mark.parametrize(
    ("blocks", "table_bytes", "streams", "min_bytes", "expected"),
    [
        (100, 100 * MIB, 1, 0, 1),  # one stream asked for
        (100, 100 * MIB, 4, 64 * MIB, 1),  # below twice the minimum per stream: one stream
        (1000, 200 * MIB, 6, 64 * MIB, 3),  # as many as the minimum size allows
        (1, 8192, 4, 0, 1),  # never more streams than blocks
        (0, 0, 4, 0, 1),  # an empty table
    ],
)
def test_fewer_streams_for_a_small_table(
    blocks: int, table_bytes: int, streams: int, min_bytes: int, expected: int
) -> None:
    assert len(block_ranges(blocks, table_bytes, streams, min_bytes)) == expected


@pytest.mark.parametrize(
    ("env", "streams"),
    [
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 1),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}, 1),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}, 2),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}, 6),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240", "EXTRACT_STREAMS": "2"}, 2),
        ({"EXTRACT_STREAMS": "12"}, 12),
    ],
)
def test_streams_follow_the_functions_vcpus_unless_set(env: dict[str, str], streams: int) -> None:
    assert settings_from_env({**BASE, **env}).streams == streams


def test_outside_lambda_the_streams_follow_the_machines_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert settings_from_env(BASE).streams == 6
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert settings_from_env(BASE).streams == 1


def test_each_stream_reads_and_buffers_its_share_of_what_one_stream_would() -> None:
    assert stream_budget(8 << 20, 1, 65536) == StreamBudget(8 << 20, 65536, read_ahead=True)
    # Several streams overlap one another's decoding: none needs a read-ahead thread of its own.
    assert stream_budget(8 << 20, 2, 65536) == StreamBudget(4 << 20, 32768, read_ahead=False)
    # Never below the floors, however many streams: tiny reads and row groups only add overhead.
    floors = StreamBudget(MIN_STREAM_BATCH_BYTES, MIN_STREAM_ROW_GROUP_ROWS, read_ahead=False)
    assert stream_budget(8 << 20, 32, 65536) == floors


@pytest.mark.parametrize(
    ("data_type", "orderable"),
    [
        (pa.int64(), True),
        (pa.decimal128(12, 2), True),
        (pa.date32(), True),
        (pa.timestamp("us", tz="UTC"), True),
        (pa.string(), False),  # PostgreSQL orders text by its collation, Python by code point
        (pa.binary(), False),
    ],
)
def test_a_position_is_compared_in_python_only_where_python_orders_like_postgres(
    data_type: pa.DataType, orderable: bool
) -> None:
    assert position_orders_like_postgres(data_type) is orderable


class _Stream:
    def __init__(self, observer: StreamObserver, finished: bool) -> None:
        self.observer, self.finished = observer, finished


def _observed(rows: list[tuple[datetime, int, int]]) -> StreamObserver:
    specs = [AggregateSpec("count(ID)", "count", "ID", "NUMBER(38,0)"), AggregateSpec("sum(N)", "sum", "N", "X")]
    observer = StreamObserver(specs, watermark_column="UPDATED_AT", key_columns=("UPDATED_AT", "ID"))
    if rows:
        updated, ids, values = zip(*rows, strict=True)
        schema = pa.schema([("UPDATED_AT", pa.timestamp("us", tz="UTC")), ("ID", pa.int64()), ("N", pa.int64())])
        observer.observe(
            pa.RecordBatch.from_arrays([pa.array(updated), pa.array(ids), pa.array(values)], schema=schema)
        )
    return observer


def _at(second: int) -> datetime:
    return datetime(2024, 1, 1, 0, 0, second, tzinfo=UTC)


def test_stopped_streams_resume_after_the_earliest_position_any_reached() -> None:
    total = _observed([])
    streams: list[Any] = [
        _Stream(_observed([(_at(1), 1, 10), (_at(7), 9, 5)]), finished=False),
        _Stream(_observed([(_at(2), 4, 1), (_at(3), 2, 1)]), finished=False),  # the earliest
        _Stream(_observed([(_at(9), 3, 100)]), finished=True),  # read to its end: no bound
    ]
    finished = SliceSteps._merge_observers(total, streams)
    assert finished is False
    assert total.rows == 5
    assert total.values == {"count(ID)": 5, "sum(N)": Decimal(117)}
    assert total.last_position == (_at(3), 2)
    assert total.last_key == [_at(3).isoformat(), "2"]
    assert total.last_watermark_value == _at(3)


def test_streams_read_to_their_end_finish_the_extract() -> None:
    total = _observed([])
    streams: list[Any] = [_Stream(_observed([(_at(1), 1, 1)]), True), _Stream(_observed([]), True)]
    assert SliceSteps._merge_observers(total, streams) is True
    assert total.rows == 1
    assert total.last_key == [_at(1).isoformat(), "1"]  # a full refresh's checkpoint names a key
