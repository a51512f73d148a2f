"""Stage: write record batches as Parquet (or gzip CSV) parts, each streamed to its sink.

A part is finished when it reaches the byte or row target; it is then completed in the
background while the next part is produced. Every part's rows and bytes are recorded so
the load can check COPY's per-file result against them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aurora_batch.model import StagedPart, staged_key
from aurora_batch.ports import PartSink, Staging

DEFAULT_PART_TARGET_BYTES = 128 << 20  # Snowflake loads 100-250 MB compressed files best
DEFAULT_ROW_GROUP_ROWS = 64 * 1024  # buffered in memory until written


class PartSinkFactory(Protocol):
    def open(self, relative_path: str) -> PartSink: ...

    def key(self, relative_path: str) -> str: ...


class _DoneFuture(Future[int]):
    def __init__(self, value: int) -> None:
        super().__init__()
        self.set_result(value)


class LocalFileSink:
    """A part written to a local directory (only when chosen on purpose, e.g. the benchmark)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._file = path.open("wb")
        self.bytes_written = 0

    def write(self, chunk: Any) -> int:
        written = self._file.write(chunk)
        self.bytes_written += written
        return written

    def complete(self) -> Future[int]:
        self._file.close()
        return _DoneFuture(self.bytes_written)

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


@dataclass
class LocalSinkFactory:
    root: Path
    prefix: str = ""

    def key(self, relative_path: str) -> str:
        return f"{self.prefix}/{relative_path}" if self.prefix else relative_path

    def open(self, relative_path: str) -> PartSink:
        return LocalFileSink(self.root / self.key(relative_path))


@dataclass
class S3SinkFactory:
    staging: Staging
    prefix: str  # STAGING_PREFIX; the stage URL points here

    def key(self, relative_path: str) -> str:
        return staged_key(self.prefix, relative_path)

    def open(self, relative_path: str) -> PartSink:
        return self.staging.open_upload(self.key(relative_path))


class _FileAdapter:
    """Gives a PartSink the file methods Arrow's writers call."""

    def __init__(self, sink: PartSink) -> None:
        self.sink = sink
        self.closed = False

    def write(self, chunk: Any) -> int:
        return self.sink.write(chunk)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def tell(self) -> int:
        return self.sink.bytes_written

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class Stager:
    """Writes batches into numbered parts under `<run_path>/part-NNNNN.<ext>`."""

    def __init__(
        self,
        sinks: PartSinkFactory,
        run_path: str,
        schema: pa.Schema,
        *,
        file_format: str = "parquet",
        compression: str = "zstd",
        part_target_bytes: int = DEFAULT_PART_TARGET_BYTES,
        part_target_rows: int | None = None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        first_index: int = 0,
        on_part: Callable[[StagedPart], None] | None = None,
    ) -> None:
        self._sinks, self._run_path, self._schema = sinks, run_path.strip("/"), schema
        self._format = file_format
        self._compression = compression
        self._part_target_bytes = part_target_bytes
        self._part_target_rows = part_target_rows
        self._row_group_rows = row_group_rows
        self._next_index = first_index
        self._on_part = on_part
        self._pending: list[tuple[int, str, str, int, Future[int]]] = []
        self._sink: PartSink | None = None
        self._writer: Any = None
        self._file: _FileAdapter | None = None
        self._part_rows = 0
        self._row_group: list[pa.RecordBatch] = []
        self._row_group_size = 0
        self.parts: list[StagedPart] = []
        self._dictionary_columns: list[str] | None = None
        self._finished_parts_bytes = 0

    @property
    def bytes_written(self) -> int:
        """Bytes written to the sinks so far, the open part's included (not a row group still buffered)."""
        return self._finished_parts_bytes + (self._sink.bytes_written if self._sink is not None else 0)

    @property
    def extension(self) -> str:
        return "parquet" if self._format == "parquet" else "csv.gz"

    def _open_part(self) -> None:
        relative = f"{self._run_path}/part-{self._next_index:05d}.{self.extension}"
        self._current = (self._next_index, relative)
        self._next_index += 1
        sink = self._sinks.open(relative)
        self._sink = sink
        self._file = _FileAdapter(sink)
        if self._format == "parquet":
            self._writer = pq.ParquetWriter(
                self._file,
                self._schema,
                compression=self._compression,
                use_dictionary=self._dictionary_columns,
                write_statistics=True,
                store_schema=False,
            )
        else:
            stream = pa.CompressedOutputStream(self._file, "gzip")
            self._writer = (stream, pacsv.CSVWriter(stream, csv_schema(self._schema)))
        self._part_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._dictionary_columns is None:
            self._dictionary_columns = choose_dictionary_columns(batch)
        if self._sink is None:
            self._open_part()
        if self._format == "parquet":
            self._row_group.append(batch)
            self._row_group_size += batch.num_rows
            if self._row_group_size >= self._row_group_rows:
                self._flush_row_group()
        else:
            self._writer[1].write_batch(batch.cast(csv_schema(self._schema)))
        self._part_rows += batch.num_rows
        if self._part_full():
            self.finish_part()

    def _flush_row_group(self) -> None:
        if self._row_group:
            self._writer.write_table(pa.Table.from_batches(self._row_group, schema=self._schema))
            self._row_group, self._row_group_size = [], 0

    def _part_full(self) -> bool:
        assert self._sink is not None
        if self._part_target_rows is not None and self._part_rows >= self._part_target_rows:
            return True
        return self._sink.bytes_written >= self._part_target_bytes

    def finish_part(self) -> None:
        """Close the open part (if any) and start completing it in the background."""
        if self._sink is None:
            return
        if self._format == "parquet":
            self._flush_row_group()
            self._writer.close()
        else:
            stream, csv_writer = self._writer
            csv_writer.close()
            stream.close()
        index, relative = self._current
        self._finished_parts_bytes += self._sink.bytes_written
        self._pending.append((index, relative, self._sinks.key(relative), self._part_rows, self._sink.complete()))
        self._sink, self._writer, self._file = None, None, None
        self._collect(block=False)

    def _collect(self, *, block: bool) -> None:
        still: list[tuple[int, str, str, int, Future[int]]] = []
        for index, relative, key, rows, future in self._pending:
            if block or future.done():
                size = future.result()
                part = StagedPart(index=index, key=key, stage_path=relative, rows=rows, bytes=size)
                self.parts.append(part)
                if self._on_part is not None:
                    self._on_part(part)
            else:
                still.append((index, relative, key, rows, future))
        self._pending = still

    def close(self) -> list[StagedPart]:
        """Finish the last part and wait for every upload; returns all parts, in order."""
        self.finish_part()
        self._collect(block=True)
        self.parts.sort(key=lambda p: p.index)
        return self.parts

    def abort(self) -> None:
        if self._sink is not None:
            self._sink.abort()
            self._sink = None
        for *_, future in self._pending:
            future.cancel()
        self._pending = []


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a CSV part is written in: a UTC timestamp as its UTC wall clock, without the "Z"
    pyarrow appends, so one pinned TIMESTAMP_FORMAT reads both timestamp kinds (the session's
    TIMEZONE is UTC)."""
    return pa.schema(
        [
            pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) and f.type.tz else f
            for f in schema
        ]
    )


def choose_dictionary_columns(sample: pa.RecordBatch, max_distinct_ratio: float = 0.1) -> list[str]:
    """Dictionary-encode only the string columns that repeat: on unique values dictionary
    encoding costs about three times the CPU and makes files larger."""
    chosen = []
    for field, column in zip(sample.schema, sample.columns, strict=True):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        distinct = pc.count_distinct(column).as_py()
        if distinct <= max(1, sample.num_rows * max_distinct_ratio):
            chosen.append(field.name)
    return chosen


def local_sinks(root: str | os.PathLike[str], prefix: str = "") -> LocalSinkFactory:
    return LocalSinkFactory(Path(root), prefix)
