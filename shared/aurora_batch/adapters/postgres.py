"""PostgreSQL adapter (psycopg2). The only module that imports psycopg2.

A `Snapshot` is one REPEATABLE READ READ ONLY transaction in UTC: the catalog read, the
incremental bounds and the COPY stream of one extract all see the same data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

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

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor = connection.cursor()

    def describe(self, ref: TableRef) -> SourceTable:
        return describe_table(self._cursor, ref)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql, params)
        return list(self._cursor.fetchall())

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        self._cursor.execute(sql, params)
        row: tuple[Any, ...] | None = self._cursor.fetchone()
        return row

    def mogrify(self, sql: str, params: tuple[Any, ...]) -> str:
        return self._cursor.mogrify(sql, params).decode()

    @contextlib.contextmanager
    def copy_out(self, select_sql: str) -> Iterator[IO[bytes]]:
        """Stream `COPY (select_sql) TO STDOUT (FORMAT csv)` as a readable binary file.

        psycopg2 pushes rows into a file; the Arrow CSV reader pulls from one. A pipe joins
        them, with the COPY running in a thread, so nothing is held beyond the pipe buffer.
        """
        copy_sql = f"COPY ({select_sql}) TO STDOUT WITH (FORMAT csv, NULL '')"
        read_fd, write_fd = os.pipe()
        # Buffered: read(n) then returns n bytes (or EOF), never a short pipe read, so Arrow's
        # blocks are whole and a long row never straddles a block it thinks has ended.
        reader = os.fdopen(read_fd, "rb", buffering=1 << 20)
        failure: list[BaseException] = []
        stopped = threading.Event()

        def pump() -> None:
            with os.fdopen(write_fd, "wb", buffering=1 << 20) as writer:
                try:
                    self._cursor.copy_expert(copy_sql, writer)
                except BaseException as exc:  # handed to the consumer thread below
                    if not stopped.is_set():
                        failure.append(exc)

        pump_thread = threading.Thread(target=pump, name="pg-copy-out", daemon=True)
        pump_thread.start()
        try:
            yield reader
        finally:
            if pump_thread.is_alive():
                # The consumer stopped early (error or time budget): cancel the COPY server-side.
                stopped.set()
                self._connection.cancel()
            reader.close()
            pump_thread.join()
        if failure:
            exc = failure[0]
            if isinstance(exc, psycopg2.Error) and (exc.pgcode or "")[:2] in _PERMANENT_SQLSTATE_CLASSES:
                raise SourceQueryError(
                    f"PostgreSQL rejected the extract query: {(exc.pgerror or str(exc)).strip()}",
                    sqlstate=exc.pgcode,
                ) from exc
            if isinstance(exc, psycopg2.Error):
                raise ExtractError(f"COPY failed: {exc.pgerror or exc}".strip(), sqlstate=exc.pgcode) from exc
            raise ExtractError(f"COPY failed: {type(exc).__name__}") from exc


class PostgresSource:
    """Opens snapshots. `connect` is injectable; the default builds a connection from a DSN
    assembled from keyword arguments (never logged)."""

    def __init__(self, connect: ConnectFactory) -> None:
        self._connect = connect

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
        application_name: str = "aurora-batch",
        connect_timeout: int = 10,
    ) -> PostgresSource:
        def connect() -> Connection:
            try:
                return psycopg2.connect(
                    host=host,
                    port=port,
                    dbname=database,
                    user=user,
                    password=password,
                    sslmode=sslmode or "prefer",
                    application_name=application_name,
                    connect_timeout=connect_timeout,
                )
            except psycopg2.OperationalError as exc:
                # libpq names host and user in its messages, never the password.
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
                raise SourceConnectionError(
                    f"cannot connect to PostgreSQL: {reason}", host=host, port=port, database=database
                ) from exc

        return cls(connect)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        connection = self._connect()
        try:
            connection.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
            with connection.cursor() as cursor:
                for statement in _SESSION_SETTINGS:
                    cursor.execute(statement)
            yield Snapshot(connection)
            connection.rollback()  # read only: nothing to commit
        finally:
            connection.close()
