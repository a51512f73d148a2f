"""Transform hooks used by tests/integration/test_customization.py, named by dotted path
(``tests.support.hooks.<name>``) exactly as an operator would name their own."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc


class StreamLog:
    """What the hooks saw, in order, shared with the test's progress callback."""

    events: list[tuple[str, int]] = []  # noqa: RUF012 - one process-wide log, reset by each test
    input_was_iterator: bool | None = None

    @classmethod
    def reset(cls) -> None:
        cls.events = []
        cls.input_was_iterator = None

    @classmethod
    def record(cls, event: str, count: int) -> None:
        cls.events.append((event, count))


def upper_case_city(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    """Upper-cases the CITY column, logging each batch as it arrives, before yielding it."""
    StreamLog.input_was_iterator = iter(batches) is batches
    for seen, batch in enumerate(batches, start=1):
        StreamLog.record("hook received", seen)
        index = batch.schema.get_field_index("CITY")
        upper = pc.utf8_upper(batch.column(index))
        yield batch.set_column(index, batch.schema.field(index), upper)


def fail_on_second_batch(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    for seen, batch in enumerate(batches, start=1):
        if seen == 2:
            raise ValueError("cannot handle the second batch")
        yield batch


def drop_last_column(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    for batch in batches:
        yield batch.drop_columns([batch.schema.names[-1]])


def pass_through(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    yield from batches


NOT_CALLABLE = "a hook must be callable"


def repeat_forever(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    """Streams its input again and again, without end."""
    return itertools.cycle(batches)


def drop_odd_ids(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    """Keeps the rows with an even ID."""
    for batch in batches:
        yield batch.filter(pc.equal(pc.bit_wise_and(batch.column("ID"), 1), 0))
