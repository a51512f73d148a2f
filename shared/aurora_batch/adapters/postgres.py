"""PostgreSQL adapter: psycopg2 for the catalog and control queries, the ADBC PostgreSQL
driver for the rows. The only module that imports either.

A `Snapshot` is one REPEATABLE READ READ ONLY transaction in UTC: the catalog read, the
incremental bounds and the COPY stream of one extract all see the same data. The rows are read
through `COPY (SELECT ...) TO STDOUT (FORMAT binary)`, which the ADBC driver issues and decodes
into Arrow record batches in C++, on a second connection that imports the snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import adbc_driver_manager
import adbc_driver_manager.dbapi
import adbc_driver_postgresql.dbapi as adbc_dbapi
import psycopg2
import psycopg2.extensions
import pyarrow as pa
from adbc_driver_manager._reader import AdbcRecordBatchReader

from aurora_batch.errors import (
    ExtractError,
    SourceConnectionError,
    SourceQueryError,
    SourceTableNotFoundError,
)
from aurora_batch.model import SourceColumn, SourceTable, TableRef

logger = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection
ConnectFactory = Callable[[], Connection]
BulkConnection = adbc_driver_manager.dbapi.Connection
BulkConnectFactory = Callable[[], BulkConnection]

# Batches read ahead of the consumer. With the driver's batch size (EXTRACT_BATCH_BYTES) this
# bounds the extract's memory whatever the table's size.
_READ_AHEAD_BATCHES = 2

# SQLSTATE classes of errors in the query itself, not in the connection or the server's state:
# 22 data exception, 42 syntax error or access rule violation, 0A feature not supported.
_PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "42", "0A"})

_SESSION_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'iso_8601'",
    # shortest exact text for float4/float8, so a float survives the text round trip
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)

_TABLE_OID_SQL = """
SELECT c.oid, obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

_COLUMNS_SQL = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END,
       CASE WHEN t.typtype = 'd' THEN bt.typcategory ELSE t.typcategory END,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       NOT (a.attnotnull OR coalesce(t.typnotnull, false)),
       a.attnum,
       col_description(a.attrelid, a.attnum)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_PRIMARY_KEY_SQL = """
SELECT a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s AND i.indisprimary
ORDER BY k.ord
"""


def _precision_scale(type_name: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """Decode atttypmod: (numeric precision, numeric scale, character length)."""
    if typmod < 0:
        return None, None, None
    if type_name == "numeric":
        packed = typmod - 4
        return (packed >> 16) & 0xFFFF, packed & 0xFFFF, None
    if type_name in ("varchar", "bpchar"):
        return None, None, typmod - 4
    return None, None, None


def describe_table(cursor: Any, ref: TableRef) -> SourceTable:
    """Read a table's columns, primary key and comments from the catalog."""
    cursor.execute(_TABLE_OID_SQL, (ref.schema, ref.table))
    found = cursor.fetchone()
    if found is None:
        raise SourceTableNotFoundError(
            f"source table {ref.qualified} does not exist or is not visible to the role", table=ref.qualified
        )
    oid, table_comment = found
    cursor.execute(_COLUMNS_SQL, (oid,))
    columns = []
    for name, pg_type, type_name, category, typmod, nullable, ordinal, comment in cursor.fetchall():
        precision, scale, length = _precision_scale(type_name, typmod)
        columns.append(
            SourceColumn(
                name=name,
                pg_type=pg_type,
                type_name=type_name,
                type_category=category,
                nullable=nullable,
                ordinal=ordinal,
                numeric_precision=precision,
                numeric_scale=scale,
                char_length=length,
                comment=comment,
            )
        )
    cursor.execute(_PRIMARY_KEY_SQL, (oid,))
    primary_key = tuple(row[0] for row in cursor.fetchall())
    return SourceTable(ref=ref, columns=tuple(columns), primary_key=primary_key, comment=table_comment)


class Snapshot:
    """One consistent, read-only view of the source for the duration of an extract."""

    def __init__(self, connection: Connection, connect_bulk: BulkConnectFactory) -> None:
        self._connection = connection
        self._cursor = connection.cursor()
        self._connect_bulk = connect_bulk

    def describe(self, ref: TableRef) -> SourceTable:
        return describe_table(self._cursor, ref)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._execute(sql, params)
        return list(self._cursor.fetchall())

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        self._execute(sql, params)
        row: tuple[Any, ...] | None = self._cursor.fetchone()
        return row

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        # Without parameters, psycopg2 must not read the SQL as a format string: a `where` such
        # as "name LIKE 'a%'" or a column named "share%" holds a literal %.
        self._cursor.execute(sql, params or None)

    def mogrify(self, sql: str, params: tuple[Any, ...]) -> str:
        return self._cursor.mogrify(sql, params).decode()

    @contextlib.contextmanager
    def copy_batches(self, select_sql: str, *, batch_bytes: int) -> Iterator[Iterator[pa.RecordBatch]]:
        """Stream the rows of `select_sql` as Arrow record batches, in this snapshot.

        The ADBC driver runs `COPY (select_sql) TO STDOUT (FORMAT binary)` on a second
        connection that imports this transaction's snapshot (`pg_export_snapshot`), and decodes
        the binary rows into Arrow in C++. A thread reads up to two batches ahead, so the decoding
        overlaps the caller's work and memory stays bounded.
        """
        row = self.query_one("SELECT pg_export_snapshot()")
        assert row is not None
        bulk = self._connect_bulk()
        cursor = bulk.cursor()
        statement = cursor.adbc_statement
        try:
            for sql in (
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                f"SET TRANSACTION SNAPSHOT {self.mogrify('%s', (str(row[0]),))}",
                *_SESSION_SETTINGS,
            ):
                cursor.execute(sql)
            statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
            statement.set_sql_query(select_sql)
            handle, _ = statement.execute_query()
            # The driver's own reader: a failure mid-stream keeps PostgreSQL's SQLSTATE.
            reader = AdbcRecordBatchReader._import_from_c(handle.address)
        except BaseException as exc:
            cursor.close()
            bulk.close()
            if isinstance(exc, adbc_driver_manager.Error):
                raise _extract_error(exc) from exc
            raise
        read_ahead = _ReadAhead(reader)
        try:
            yield read_ahead.batches()
        finally:
            read_ahead.stop(cancel=statement.cancel)
            reader.close()
            cursor.close()
            bulk.close()
        if read_ahead.failure is not None:
            raise _extract_error(read_ahead.failure) from read_ahead.failure


class _ReadAhead:
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
                    raise _extract_error(self.failure) from self.failure
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


def _extract_error(exc: BaseException) -> ExtractError | SourceQueryError:
    """A permanent error when PostgreSQL rejected the query itself, else a retryable one."""
    sqlstate = getattr(exc, "sqlstate", None)
    message = str(exc).split("\n", 1)[0].strip() or type(exc).__name__
    if isinstance(sqlstate, str) and sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES:
        return SourceQueryError(f"PostgreSQL rejected the extract query: {message}", sqlstate=sqlstate)
    return ExtractError(f"COPY failed: {message}", sqlstate=sqlstate)


def _root_cert_file(pem: str) -> str:
    """A file holding `pem`, named by its content so warm invocations reuse it (Lambda: /tmp)."""
    path = os.path.join(tempfile.gettempdir(), f"aurora-batch-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem")
    if not os.path.exists(path):
        descriptor, partial = tempfile.mkstemp(prefix=".aurora-batch-ca-", suffix=".pem")
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(pem)
        os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
    return path


def _conninfo(**params: str) -> str:
    """A libpq keyword/value connection string; every value quoted, so none can add a keyword."""

    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{key}={quote(value)}" for key, value in params.items())


class PostgresSource:
    """Opens snapshots. Both connection factories are injectable; `from_params` builds them from
    keyword arguments (never logged)."""

    def __init__(self, connect: ConnectFactory, connect_bulk: BulkConnectFactory) -> None:
        self._connect = connect
        self._connect_bulk = connect_bulk

    @classmethod
    def from_params(
        cls,
        *,
        host: str,
        port: int,
        database: str,
        user: str,
        password: str,
        sslmode: str | None = None,
        ssl_root_cert_pem: str | None = None,
        application_name: str = "aurora-batch",
        connect_timeout: int = 10,
    ) -> PostgresSource:
        # One connection string for both connections; libpq reads the CA certificates from a file.
        conninfo = _conninfo(
            host=host,
            port=str(port),
            dbname=database,
            user=user,
            password=password,
            sslmode=sslmode or "prefer",
            application_name=application_name,
            connect_timeout=str(connect_timeout),
            **({"sslrootcert": _root_cert_file(ssl_root_cert_pem)} if ssl_root_cert_pem else {}),
        )

        def refused(exc: Exception) -> SourceConnectionError:
            # libpq names host, port and user in its messages; the password is scrubbed all the same.
            reason = str(exc).replace(password, "***").strip().splitlines()
            return SourceConnectionError(
                f"cannot connect to PostgreSQL: {reason[0] if reason else 'connection failed'}",
                host=host,
                port=port,
                database=database,
            )

        def connect() -> Connection:
            try:
                return psycopg2.connect(conninfo)
            except psycopg2.OperationalError as exc:
                raise refused(exc) from exc

        def connect_bulk() -> BulkConnection:
            try:
                bulk: BulkConnection = adbc_dbapi.connect(conninfo, autocommit=True)
            except adbc_driver_manager.Error as exc:
                raise refused(exc) from exc
            return bulk

        return cls(connect, connect_bulk)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        connection = self._connect()
        try:
            connection.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
            with connection.cursor() as cursor:
                for statement in _SESSION_SETTINGS:
                    cursor.execute(statement)
            yield Snapshot(connection, self._connect_bulk)
            connection.rollback()  # read only: nothing to commit
        finally:
            connection.close()
