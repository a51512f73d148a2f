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
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import adbc_driver_manager
import adbc_driver_manager.dbapi
import adbc_driver_postgresql.dbapi as adbc_dbapi
import psycopg2
import psycopg2.extensions
import pyarrow as pa
from adbc_driver_manager._reader import AdbcRecordBatchReader

from aurora_batch.adapters import postgres_slices
from aurora_batch.adapters.postgres_catalog import describe_table
from aurora_batch.adapters.postgres_read_ahead import ReadAhead, ReadInline, extract_error
from aurora_batch.errors import SourceConnectionError, SourceNotReadOnlyError
from aurora_batch.model import SourceColumn, SourceTable, TableRef, quote_pg
from aurora_batch.ports import ColumnRange

__all__ = ["PostgresSource", "Snapshot", "describe_table"]

logger = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection
ConnectFactory = Callable[[], Connection]
BulkConnection = adbc_driver_manager.dbapi.Connection
BulkConnectFactory = Callable[[], BulkConnection]

_SESSION_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'iso_8601'",
    # shortest exact text for float4/float8, so a float survives the text round trip
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)
# SHOW transaction_read_only, as a query: the ADBC driver reads every result set through COPY.
_TRANSACTION_READ_ONLY = "SELECT current_setting('transaction_read_only')"


def _require_read_only(setting: Any, session: str) -> None:
    """Each session proves it cannot write before it reads anything."""
    if setting != "on":
        raise SourceNotReadOnlyError(
            f"the {session} session to PostgreSQL is not read-only (transaction_read_only = {setting})",
            session=session,
        )


class Snapshot:
    """One consistent, read-only view of the source for the duration of an extract (ports.Snapshot).

    `read_only`: the snapshot's transaction was checked read-only when it opened (and each bulk
    connection is checked before its COPY); `role_read_only`: the role's own default
    (default_transaction_read_only), which keeps any later transaction read-only too."""

    def __init__(self, connection: Connection, connect_bulk: BulkConnectFactory, *, role_read_only: bool) -> None:
        self._connection = connection
        self._cursor = connection.cursor()
        self._connect_bulk = connect_bulk
        self._exporting = threading.Lock()
        self.read_only = True
        self.role_read_only = role_read_only

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
        try:
            self._cursor.execute(sql, params or None)
        except psycopg2.Error as exc:
            # A query the server rejects (a `where` naming a missing column) is permanent.
            raise extract_error(exc) from exc

    def mogrify(self, sql: str, params: tuple[Any, ...]) -> str:
        return self._cursor.mogrify(sql, params).decode()

    # -- the incremental protocol's control queries (see ports.Snapshot) --------------------

    def column_range(self, ref: TableRef, column: str, where: str | None) -> ColumnRange:
        col = quote_pg(column)
        filtered = f" WHERE {where}" if where else ""
        and_filtered = f" AND ({where})" if where else ""
        # SQL from quote_pg identifiers, sqlglot-rendered where (bandit B608)
        newest = self.query_one(f"SELECT max({col}) FROM {ref.pg_sql}{filtered}")  # noqa: S608  # nosec B608
        # SQL from quote_pg identifiers, sqlglot-rendered where (bandit B608)
        nulls = self.query_one(f"SELECT count(*) FROM {ref.pg_sql} WHERE {col} IS NULL{and_filtered}")  # noqa: S608  # nosec B608
        return ColumnRange(newest[0] if newest else None, int(nulls[0]) if nulls else 0)

    def estimate_rows(self, ref: TableRef, predicates: Sequence[str]) -> int | None:
        if not predicates:
            found = self.query_one("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (ref.pg_sql,))
            # -1: never vacuumed or analyzed, so no estimate at all.
            return int(found[0]) if found and found[0] is not None and found[0] >= 0 else None
        where = " AND ".join(f"({p})" for p in predicates)
        # SQL from quote_pg identifiers, sqlglot-rendered where (bandit B608)
        found = self.query_one(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {ref.pg_sql} WHERE {where}")  # noqa: S608  # nosec B608
        if not found:
            return None
        plan = json.loads(found[0]) if isinstance(found[0], str) else found[0]
        return int(plan[0]["Plan"]["Plan Rows"])

    def can_see_other_sessions(self) -> bool:
        visible = self.query_one(
            "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') "
            "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        )
        return bool(visible and visible[0])

    def oldest_open_transaction_start(self) -> datetime | None:
        oldest = self.query_one(
            "SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()"
        )
        start: datetime | None = oldest[0] if oldest else None
        return start

    def incremental_predicates(self, column: str, lower: Any) -> tuple[str, ...]:
        # NULLs never compare >= a bound: they are counted and left to the next full refresh.
        predicates = [f"{quote_pg(column)} IS NOT NULL"]
        if lower is not None:
            # Only the value goes through mogrify: an identifier may hold a literal %.
            predicates.append(f"{quote_pg(column)} >= {self.mogrify('%s', (lower,))}")
        return tuple(predicates)

    def after_position_predicate(self, columns: Sequence[SourceColumn], position: Sequence[Any]) -> str:
        """`(c1, c2) > (v1::type1, v2::type2)`."""
        left = ", ".join(quote_pg(c.name) for c in columns)
        right = ", ".join(
            f"{self.mogrify('%s', (value,))}::{c.pg_type}" for c, value in zip(columns, position, strict=True)
        )
        return f"({left}) > ({right})"

    def offending_numeric_row(
        self, table: SourceTable, column: SourceColumn, *, precision: int, scale: int
    ) -> tuple[Any, ...] | None:
        col = quote_pg(column.name)
        keys = ", ".join(quote_pg(k) for k in table.primary_key)
        return self.query_one(
            # SQL from quote_pg identifiers, sqlglot-rendered where (bandit B608)
            f"SELECT {keys} FROM {table.ref.pg_sql} WHERE {col} = 'NaN'::numeric "  # noqa: S608  # nosec B608
            f"OR {col} IN ('Infinity'::numeric, '-Infinity'::numeric) "
            f"OR {col} <> round({col}, {scale}) OR abs({col}) >= 1e{precision - scale} LIMIT 1"
        )

    def table_blocks(self, ref: TableRef) -> tuple[int, int]:
        return postgres_slices.table_blocks(self._cursor, ref)

    def block_range_predicate(self, first: int | None, end: int | None) -> str:
        return postgres_slices.block_range_predicate(first, end)

    def _import_snapshot(self) -> tuple[BulkConnection, Any]:
        """A second connection in this snapshot (`pg_export_snapshot`), checked read-only, with
        the session settings of every source session; the caller closes both."""
        with self._exporting:  # ranges read at once open their connections from several threads
            row = self.query_one("SELECT pg_export_snapshot()")
        assert row is not None
        bulk = self._connect_bulk()
        cursor = bulk.cursor()
        try:
            for sql in (
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                f"SET TRANSACTION SNAPSHOT {self.mogrify('%s', (str(row[0]),))}",
                *_SESSION_SETTINGS,
            ):
                cursor.execute(sql)
            cursor.execute(_TRANSACTION_READ_ONLY)
            setting = cursor.fetchone()
            _require_read_only(setting[0] if setting else None, "bulk")
        except BaseException as exc:
            cursor.close()
            bulk.close()
            if isinstance(exc, adbc_driver_manager.Error):
                raise extract_error(exc) from exc
            raise
        return bulk, cursor

    def query_alongside(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of `sql`, read in this snapshot on a connection of its own, so that several such
        queries (block ranges of one table) run at once, each on its own backend."""
        bulk, cursor = self._import_snapshot()
        try:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
        except adbc_driver_manager.Error as exc:
            raise extract_error(exc) from exc
        finally:
            cursor.close()
            bulk.close()

    @contextlib.contextmanager
    def copy_batches(
        self, select_sql: str, *, batch_bytes: int, read_ahead: bool = True
    ) -> Iterator[Iterator[pa.RecordBatch]]:
        """Stream the rows of `select_sql` as Arrow record batches, in this snapshot.

        The ADBC driver runs `COPY (select_sql) TO STDOUT (FORMAT binary)` on a second
        connection that imports this transaction's snapshot (`pg_export_snapshot`), and decodes
        the binary rows into Arrow in C++. With `read_ahead` a thread reads up to two batches ahead,
        so the decoding overlaps the caller's work and memory stays bounded; without it the caller
        decodes each batch as it asks for it (parallel streams already overlap one another).
        """
        bulk, cursor = self._import_snapshot()
        statement = cursor.adbc_statement
        try:
            statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
            statement.set_sql_query(select_sql)
            handle, _ = statement.execute_query()
            # The driver's own reader: a failure mid-stream keeps PostgreSQL's SQLSTATE.
            reader = AdbcRecordBatchReader._import_from_c(handle.address)
        except BaseException as exc:
            cursor.close()
            bulk.close()
            if isinstance(exc, adbc_driver_manager.Error):
                raise extract_error(exc) from exc
            raise
        stream = ReadAhead(reader) if read_ahead else ReadInline(reader)
        try:
            yield stream.batches()
        finally:
            stream.stop(cancel=statement.cancel)
            reader.close()
            cursor.close()
            bulk.close()
        if stream.failure is not None:
            raise extract_error(stream.failure) from stream.failure


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
                cursor.execute(_TRANSACTION_READ_ONLY)
                setting = cursor.fetchone()
                _require_read_only(setting[0] if setting else None, "snapshot")
                cursor.execute("SHOW default_transaction_read_only")
                default = cursor.fetchone()
            yield Snapshot(connection, self._connect_bulk, role_read_only=bool(default and default[0] == "on"))
            connection.rollback()  # read only: nothing to commit
        finally:
            connection.close()
