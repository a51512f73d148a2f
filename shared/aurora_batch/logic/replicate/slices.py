"""Parallel extract: N COPY streams, each a disjoint block range of the table, all in the run's
snapshot (each bulk connection imports it), each staging its own parts.

The block ranges partition the snapshot exactly: adjacent ranges share a bound, the first starts
at block 0 and the last is open-ended, so a row in a block added after the table's size was read
is still read once. A stream's largest buffers are the record batches it reads ahead and the row
group it encodes; with N streams each gets 1/N of the sizes one stream would use (stream_budget),
so N streams hold about what one holds, plus their fixed costs.

A run that may stop early at a part boundary (a time limit) must resume from one position:
- an incremental run stops every stream, then resumes after the earliest position any stopped
  stream reached; rows past it already staged are merged again next time, which MERGE absorbs.
  So the position's columns must order in Python as in PostgreSQL (numbers, dates, timestamps);
- a full refresh resumes by one key position into a staging table that must not hold a row twice:
  with a time limit it reads with one stream.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from aurora_batch.logic.extract import ExtractPlan, read_batches
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.plan import TablePlan
from aurora_batch.logic.replicate.steps import RunSteps
from aurora_batch.logic.stage import DEFAULT_ROW_GROUP_ROWS, S3SinkFactory, Stager
from aurora_batch.model import Mode, StagedPart
from aurora_batch.ports import Snapshot

BlockRange = tuple[int | None, int | None]
WHOLE_TABLE: list[BlockRange] = [(None, None)]
# How often the coordinating thread reports progress and renews the lease while the streams run.
_WATCH_SECONDS = 0.5
# Below these a stream's share stops shrinking: smaller reads and row groups only add overhead.
MIN_STREAM_BATCH_BYTES = 1 << 20
MIN_STREAM_ROW_GROUP_ROWS = 16 * 1024


@dataclass(frozen=True)
class StreamBudget:
    """What one of N streams reads at a time and buffers per row group."""

    batch_bytes: int
    row_group_rows: int
    read_ahead: bool  # one stream decodes in a thread of its own; several overlap one another


def stream_budget(batch_bytes: int, streams: int, row_group_rows: int = DEFAULT_ROW_GROUP_ROWS) -> StreamBudget:
    """Each of `streams` streams gets 1/N of the driver batch and of the row group one stream uses."""
    share = max(1, streams)
    return StreamBudget(
        batch_bytes=max(MIN_STREAM_BATCH_BYTES, batch_bytes // share),
        row_group_rows=max(MIN_STREAM_ROW_GROUP_ROWS, row_group_rows // share),
        read_ahead=share == 1,
    )


def block_ranges(blocks: int, table_bytes: int, streams: int, min_bytes: int) -> list[BlockRange]:
    """`streams` ranges of about equal blocks (fewer when the table is smaller than `min_bytes` per
    stream); the first starts at the table's start, the last has no end."""
    count = min(streams, blocks, table_bytes // min_bytes if min_bytes else streams)
    if count <= 1:
        return list(WHOLE_TABLE)
    cuts = [blocks * index // count for index in range(1, count)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def position_orders_like_postgres(data_type: pa.DataType) -> bool:
    """Python compares these values as PostgreSQL orders them (text would need the collation)."""
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_date(data_type)
        or pa.types.is_timestamp(data_type)
    )


@dataclass
class _Stream:
    extract: ExtractPlan
    observer: StreamObserver
    stager: Stager
    raw: Any = None
    finished: bool = False
    failure: BaseException | None = field(default=None, repr=False)


class SliceSteps(RunSteps):
    def _block_ranges(
        self, snapshot: Snapshot, plan: TablePlan, extract: ExtractPlan, observer: StreamObserver
    ) -> list[BlockRange]:
        """The block ranges to read in parallel, or the whole table when one stream must or will do."""
        streams = self.settings.streams
        if streams <= 1 or plan.pipeline.hook is not None:  # a hook sees one stream, in order
            return list(WHOLE_TABLE)
        if self._may_stop_early(extract):
            if self.report.mode == Mode.FULL.value:
                return list(WHOLE_TABLE)
            schema = plan.pipeline.output_schema
            if not all(position_orders_like_postgres(schema.field(name).type) for name in observer.key_columns):
                return list(WHOLE_TABLE)
        blocks, table_bytes = snapshot.table_blocks(plan.source.ref)
        return block_ranges(blocks, table_bytes, streams, self.settings.extract_slice_min_bytes)

    def _may_stop_early(self, extract: ExtractPlan) -> bool:
        return self.budget.limited and bool(extract.order_by)

    def _stage_slices(
        self,
        snapshot: Snapshot,
        plan: TablePlan,
        extract: ExtractPlan,
        observer: StreamObserver,
        first_index: int,
        ranges: list[BlockRange],
    ) -> tuple[list[StagedPart], bool]:
        """Stream each block range into its own parts, in parallel; returns the parts of all streams
        and whether every stream was read to its end."""
        may_stop = self._may_stop_early(extract)
        budget = stream_budget(self.settings.extract_batch_bytes, len(ranges))
        streams = [
            self._open_stream(
                snapshot, plan, extract, observer, first_index, index, bounds, may_stop, budget.row_group_rows
            )
            for index, bounds in enumerate(ranges)
        ]
        self.report.extract_streams = len(streams)
        estimated = snapshot.estimate_rows(plan.source.ref, extract.predicates)
        self.progress.estimate(None if estimated is None else observer.rows + estimated)
        stop = threading.Event()
        try:
            with self._phase("extract"), ExitStack() as copies:
                for stream in streams:  # each COPY's connection imports this snapshot
                    stream.raw = copies.enter_context(
                        snapshot.copy_batches(
                            stream.extract.select_sql(), batch_bytes=budget.batch_bytes, read_ahead=budget.read_ahead
                        )
                    )
                self._run_streams(plan, streams, observer, stop, may_stop)
            self.report.transform = plan.pipeline.hook_counts()
            with self._phase("upload"):
                parts = [part for stream in streams for part in stream.stager.close()]
        except BaseException:
            stop.set()
            for stream in streams:
                stream.stager.abort()
            raise
        finished = self._merge_observers(observer, streams)
        self.progress.rows(observer.rows, sum(p.bytes for p in parts))
        return parts, finished

    def _open_stream(
        self,
        snapshot: Snapshot,
        plan: TablePlan,
        extract: ExtractPlan,
        observer: StreamObserver,
        first_index: int,
        index: int,
        bounds: BlockRange,
        may_stop: bool,
        row_group_rows: int,
    ) -> _Stream:
        predicates = (*extract.predicates, snapshot.block_range_predicate(*bounds))
        # Without a time limit no stream stops early, so none needs its rows in order.
        sliced = replace(extract, predicates=predicates, order_by=extract.order_by if may_stop else ())
        stager = Stager(
            S3SinkFactory(self.services.staging, self.settings.staging_prefix),
            f"{self._run_path(plan)}/stream-{index:02d}",
            plan.pipeline.output_schema,
            file_format=self.settings.staging_format,
            part_target_bytes=self.settings.part_target_bytes,
            part_target_rows=self.settings.part_target_rows,
            row_group_rows=row_group_rows,
            first_index=first_index,
        )
        return _Stream(sliced, replace(observer, rows=0, values={}, null_watermark_rows=0, clamped={}), stager)

    def _run_streams(
        self, plan: TablePlan, streams: list[_Stream], observer: StreamObserver, stop: threading.Event, may_stop: bool
    ) -> None:
        """Run every stream in its own thread (the decoding and Parquet writing release the GIL);
        this thread reports progress and keeps the lease. The first failure stops them all."""
        with ThreadPoolExecutor(len(streams), thread_name_prefix="extract-stream") as pool:
            pending = {pool.submit(self._read_stream, plan, stream, stop, may_stop) for stream in streams}
            while pending:
                done, pending = wait(pending, timeout=_WATCH_SECONDS, return_when=FIRST_EXCEPTION)
                if any(future.exception() is not None for future in done):
                    stop.set()
                rows = observer.rows + sum(stream.observer.rows for stream in streams)
                self.progress.rows(rows, sum(stream.stager.bytes_written for stream in streams))
                self._keep_lease()
        failed = next((stream.failure for stream in streams if stream.failure is not None), None)
        if failed is not None:
            raise failed

    def _read_stream(self, plan: TablePlan, stream: _Stream, stop: threading.Event, may_stop: bool) -> None:
        try:
            batches = read_batches(
                stream.raw, stream.extract, batch_rows=self.options.batch_size, table_name=self.table
            )
            for batch in plan.pipeline.apply(batches):
                stream.observer.observe(batch)
                stream.stager.write(batch)
                self._crashpoint("extract")
                if stop.is_set():
                    return
                if may_stop and self.budget.low():
                    stream.stager.finish_part()
                    return
            stream.finished = True
        except BaseException as exc:
            stream.failure = exc
            raise

    @staticmethod
    def _merge_observers(observer: StreamObserver, streams: list[_Stream]) -> bool:
        """Add every stream's observations to `observer` and set where the extract resumes: after the
        earliest position a stopped stream reached (every row up to it is staged). True: all finished."""
        for stream in streams:
            observer.absorb(stream.observer)
        stopped = [s.observer for s in streams if not s.finished and s.observer.last_position is not None]
        with_rows = [s.observer for s in streams if s.observer.last_position is not None]
        resume = min(stopped, key=lambda seen: seen.last_position or ()) if stopped else None
        resume = resume or (with_rows[-1] if with_rows else None)
        if resume is not None:
            observer.last_key, observer.last_position = resume.last_key, resume.last_position
            observer.last_watermark_value = resume.last_watermark_value
        return all(stream.finished for stream in streams)
