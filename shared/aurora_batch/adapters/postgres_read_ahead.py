"""The extract's COPY stream, read ahead in a thread or as asked for, and how its failures are classified."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import adbc_driver_manager
import pyarrow as pa

from aurora_batch.errors import ExtractError, SourceQueryError

# Batches read ahead of the consumer. With the driver's batch size (EXTRACT_BATCH_BYTES) this
# bounds the extract's memory whatever the table's size.
_READ_AHEAD_BATCHES = 2

# SQLSTATE classes of errors in the query itself, not in the connection or the server's state:
# 22 data exception, 25 invalid transaction state (a write in a read-only transaction), 42 syntax
# error or access rule violation, 0A feature not supported.
_PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "25", "42", "0A"})


class ReadAhead:
    """Reads a record batch stream in a thread, a bounded number of batches ahead."""

    _END = object()

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_READ_AHEAD_BATCHES)
        self._stopped = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._pump, name="pg-copy-out", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    batch = self._reader.read_next_batch()
                except StopIteration:
                    break
                self._put(batch)
        except BaseException as exc:  # handed to the consumer
            if not self._stopped.is_set():
                self.failure = exc
        finally:
            self._put(self._END)

    def _put(self, item: object) -> None:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._queue.get()
            if item is self._END:
                if self.failure is not None:
                    raise extract_error(self.failure) from self.failure
                return
            yield item

    def stop(self, cancel: Callable[[], None]) -> None:
        """Stop reading. A stream still running is cancelled server-side."""
        if self._thread.is_alive():
            self._stopped.set()
            with contextlib.suppress(adbc_driver_manager.Error):
                cancel()
            self._thread.join()
            # The consumer stopped early: rows it did not ask for cannot fail it.
            self.failure = None


class ReadInline:
    """Reads a record batch stream in the caller's thread, one batch when asked for."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._finished = False
        self.failure: BaseException | None = None  # raised where it happens, never deferred

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                self._finished = True
                return
            except adbc_driver_manager.Error as exc:
                self._finished = True
                raise extract_error(exc) from exc
            yield batch

    def stop(self, cancel: Callable[[], None]) -> None:
        """Stop reading. A stream still running is cancelled server-side."""
        if not self._finished:
            with contextlib.suppress(adbc_driver_manager.Error):
                cancel()


def extract_error(exc: BaseException) -> ExtractError | SourceQueryError:
    """A permanent error when PostgreSQL rejected the query itself, else a retryable one."""
    # ADBC names the code `sqlstate`, psycopg2 `pgcode`.
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    message = str(exc).split("\n", 1)[0].strip() or type(exc).__name__
    if isinstance(sqlstate, str) and sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES:
        return SourceQueryError(f"PostgreSQL rejected the extract query: {message}", sqlstate=sqlstate)
    return ExtractError(f"COPY failed: {message}", sqlstate=sqlstate)
