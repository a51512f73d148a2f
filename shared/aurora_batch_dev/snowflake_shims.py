"""Shims: Snowflake statements that real Snowflake supports and fakesnow 0.11.18 lacks (or emulates lossily).

The emulator (``snowflake_emulator``) checks every statement against ``SHIMS`` before handing it to
fakesnow. A shim handles the statement itself on the session's DuckDB connection and answers in
the shape fakesnow uses for a successful statement. Production SQL is never changed to fit the
emulator: when the product needs a statement fakesnow lacks, it gets a shim here.

Each shim is a function named after the statement it emulates, registered with ``@shim``; its
docstring says what real Snowflake does and how closely the emulation follows it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from duckdb import DuckDBPyConnection
from fakesnow import statement_type
from fakesnow.fakes import FakeSnowflakeConnection

from aurora_batch_dev.emulator_keypair import UserPublicKeys
from aurora_batch_dev.errors import EmulatorStatementError

STATEMENT_SUCCEEDED = "Statement executed successfully."
_EXT_SCHEMA = "_fs_global._fs_information_schema"
# fakesnow keeps table comments and varchar lengths beside DuckDB's catalog, keyed by table name.
_EXT_TABLES = (f"{_EXT_SCHEMA}._fs_tables_ext", f"{_EXT_SCHEMA}._fs_columns_ext")

# Snowflake identifiers: "quoted" (with "" as an escaped quote) or unquoted; names have up to 3 parts.
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_QUALIFIED_COLUMN = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{1,3}}"
_STRING = r"'(?:[^'\\]|\\.|'')*'"
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)


@dataclass(frozen=True)
class ShimResult:
    """What a shimmed statement returns: text columns and rows, plus Snowflake's statement type id."""

    columns: tuple[str, ...]
    rows: list[tuple[str | None, ...]]
    statement_type_id: int

    @classmethod
    def status(cls, message: str = STATEMENT_SUCCEEDED, statement_type_id: int = statement_type.DDL) -> ShimResult:
        return cls(("status",), [(message,)], statement_type_id)


@dataclass
class SessionState:
    """What the emulator remembers about one client session beyond fakesnow's own state."""

    number: int
    query_tag: str | None = None
    role: str | None = None
    statement_timeout: int | None = None  # STATEMENT_TIMEOUT_IN_SECONDS; None or 0: no limit


class StageObjects(Protocol):
    """Deletes objects under an external stage's S3 location (injected: moto in the local stack)."""

    def remove(self, url_prefix: str, pattern: re.Pattern[str] | None) -> list[str]: ...


@dataclass
class ShimContext:
    conn: FakeSnowflakeConnection
    session: SessionState
    stage_objects: StageObjects | None = None
    user_keys: UserPublicKeys | None = None  # shared with the login route, which checks key-pair logins

    @property
    def duck(self) -> DuckDBPyConnection:
        return self.conn._duck_conn


ShimHandler = Callable[[ShimContext, "re.Match[str]"], ShimResult]


@dataclass(frozen=True)
class Shim:
    name: str
    emulates: str  # the Snowflake syntax, as in Snowflake's SQL reference
    pattern: re.Pattern[str]
    handler: ShimHandler
    examples: tuple[str, ...]  # statements this shim handles; the tests run each of them

    @property
    def description(self) -> str:
        return (self.handler.__doc__ or "").strip().splitlines()[0]


SHIMS: list[Shim] = []


def shim(
    *, emulates: str, pattern: str, examples: tuple[str, ...], first: bool = False
) -> Callable[[ShimHandler], ShimHandler]:
    """Register a handler for every statement that fully matches pattern (case-insensitive);
    `first` puts it before the shims registered so far (a narrower form of a broad pattern)."""

    def register(handler: ShimHandler) -> ShimHandler:
        compiled = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        entry = Shim(handler.__name__, emulates, compiled, handler, examples)
        if first:
            SHIMS.insert(0, entry)
        else:
            SHIMS.append(entry)
        return handler

    return register


def statement_body(sql_text: str) -> str:
    """The statement without leading comments, surrounding blanks or a trailing semicolon."""
    return _LEADING_COMMENTS.sub("", sql_text, count=1).strip().rstrip(";").rstrip()


def find_shim(sql_text: str) -> tuple[Shim, re.Match[str]] | None:
    body = statement_body(sql_text)
    for candidate in SHIMS:
        if match := candidate.pattern.fullmatch(body):
            return candidate, match
    return None


# --- names ---------------------------------------------------------------------------------------


def identifier_parts(qualified: str) -> list[str]:
    """Snowflake resolution of a dotted name: unquoted parts upper-cased, quoted parts kept exactly."""
    parts = []
    for token in re.findall(_IDENT, qualified):
        parts.append(token[1:-1].replace('""', '"') if token.startswith('"') else token.upper())
    return parts


def string_literal_value(literal: str) -> str:
    r"""The value of a Snowflake single-quoted literal ('' and \' are quotes, \\ a backslash)."""
    return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", literal[1:-1])


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _duckdb_string(value: str) -> str:
    """A DuckDB string literal, for the statements that take no parameters (COMMENT ON)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableName:
    catalog: str
    schema: str
    name: str

    @classmethod
    def resolve(cls, qualified: str, conn: FakeSnowflakeConnection) -> TableName:
        parts = identifier_parts(qualified)
        name = parts[-1]
        schema = parts[-2] if len(parts) >= 2 else conn.schema
        catalog = parts[-3] if len(parts) == 3 else conn.database
        if not catalog or not schema:
            raise EmulatorStatementError(
                f"Cannot perform operation on '{qualified}'. This session does not have a current schema.",
                errno=90105,
                sqlstate="22000",
            )
        return cls(catalog, schema, name)

    @property
    def sql(self) -> str:
        return ".".join(_quote(p) for p in (self.catalog, self.schema, self.name))

    @property
    def display(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"

    def sibling(self, name: str) -> TableName:
        return TableName(self.catalog, self.schema, name)


def _table_exists(duck: DuckDBPyConnection, table: TableName) -> bool:
    found = duck.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [table.catalog, table.schema, table.name],
    ).fetchone()
    return found is not None


def _require_table(duck: DuckDBPyConnection, table: TableName) -> None:
    if not _table_exists(duck, table):
        raise EmulatorStatementError(
            f"SQL compilation error:\nObject '{table.display}' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )


@contextlib.contextmanager
def _transaction(duck: DuckDBPyConnection) -> Iterator[DuckDBPyConnection]:
    duck.begin()
    try:
        yield duck
    except BaseException:
        duck.rollback()
        raise
    duck.commit()


@contextlib.contextmanager
def _ddl_transaction(ctx: ShimContext) -> Iterator[DuckDBPyConnection]:
    """One DuckDB transaction for the statement's changes to the tables, so other sessions see all
    of them or none. As in Snowflake, a DDL statement first commits the session's open transaction.

    A DuckDB transaction writes to one attached database only, so fakesnow's metadata (in
    _fs_global) is updated by a second transaction, after this one commits."""
    duck = ctx.duck
    duck.commit()
    ctx.conn._in_transaction = False
    with _transaction(duck):
        yield duck


def _rename_metadata(duck: DuckDBPyConnection, renames: list[tuple[TableName, str]]) -> None:
    with _transaction(duck):
        for table, new_name in renames:
            for ext_table in _EXT_TABLES:
                duck.execute(
                    # SQL from names from the emulator's own catalog (bandit B608)
                    f"UPDATE {ext_table} SET ext_table_name = ? "  # noqa: S608  # nosec B608
                    "WHERE ext_table_catalog = ? AND ext_table_schema = ? AND ext_table_name = ?",
                    [new_name, table.catalog, table.schema, table.name],
                )


# --- the shims -----------------------------------------------------------------------------------


@shim(
    emulates="ALTER TABLE [ IF EXISTS ] <name> SWAP WITH <target_table_name>",
    pattern=rf"ALTER\s+TABLE\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<table>{_QUALIFIED})\s+SWAP\s+WITH\s+(?P<other>{_QUALIFIED})",
    examples=(
        "ALTER TABLE ORDERS SWAP WITH ORDERS__AB_LOAD",
        'ALTER TABLE IF EXISTS ANALYTICS.PUBLIC."Mixed Case" SWAP WITH "Mixed Case__stage"',
    ),
)
def alter_table_swap_with(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Swap two tables atomically: each takes the other's name, data, columns and comments.

    Real Snowflake does this as one metadata operation; readers see the old or the new table,
    never a missing one. Emulated by three renames (a to tmp, b to a, tmp to b) in one DuckDB
    transaction, moving fakesnow's per-table metadata with them. Only tables of the same schema.
    """
    table = TableName.resolve(match["table"], ctx.conn)
    other = TableName.resolve(match["other"], ctx.conn)
    if (table.catalog, table.schema) != (other.catalog, other.schema):
        raise EmulatorStatementError(
            f"emulator: SWAP WITH across schemas is not emulated ({table.display}, {other.display})",
            errno=2,
            sqlstate="0A000",
        )
    with _ddl_transaction(ctx) as duck:
        if match["if_exists"] and not _table_exists(duck, table):
            return ShimResult.status()
        _require_table(duck, table)
        _require_table(duck, other)
        parking_name = f"{table.name}__swap_{secrets.token_hex(4)}"
        renames = [(table, parking_name), (other, table.name), (table.sibling(parking_name), other.name)]
        for old, new_name in renames:
            duck.execute(f"ALTER TABLE {old.sql} RENAME TO {_quote(new_name)}")
    _rename_metadata(ctx.duck, renames)
    return ShimResult.status()


@shim(
    emulates="CREATE [ OR REPLACE ] TABLE [ IF NOT EXISTS ] <name> CLONE <source_table> [ COPY GRANTS ]",
    pattern=(
        rf"CREATE\s+(?P<replace>OR\s+REPLACE\s+)?TABLE\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?"
        rf"(?P<table>{_QUALIFIED})\s+CLONE\s+(?P<source>{_QUALIFIED})(?:\s+COPY\s+GRANTS)?"
    ),
    examples=(
        "CREATE OR REPLACE TABLE ORDERS CLONE ORDERS__AB_LOAD COPY GRANTS",
        "CREATE TABLE ANALYTICS.PUBLIC.ORDERS_BACKUP CLONE ANALYTICS.PUBLIC.ORDERS",
        'CREATE TABLE IF NOT EXISTS "copy" CLONE "orig"',
    ),
)
def create_table_clone(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Create (or atomically replace) a table as a copy of another: columns, NOT NULL, keys, comments, rows.

    fakesnow runs plain ``CREATE TABLE .. CLONE`` as CREATE TABLE AS SELECT, which drops NOT NULL,
    keys, comments and varchar lengths, and rejects OR REPLACE and COPY GRANTS. Grants are not
    emulated, so COPY GRANTS is accepted and has nothing to copy.
    """
    return _create_from(ctx, match, rows=True)


@shim(
    emulates="CREATE [ OR REPLACE ] TABLE [ IF NOT EXISTS ] <name> LIKE <source_table> [ COPY GRANTS ]",
    pattern=(
        rf"CREATE\s+(?P<replace>OR\s+REPLACE\s+)?TABLE\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?"
        rf"(?P<table>{_QUALIFIED})\s+LIKE\s+(?P<source>{_QUALIFIED})(?:\s+COPY\s+GRANTS)?\s*;?\s*$"
    ),
    examples=(
        'CREATE OR REPLACE TABLE "PUBLIC"."ORDERS__AB_NEW_1" LIKE "PUBLIC"."ORDERS" COPY GRANTS',
        "CREATE TABLE ORDERS_EMPTY LIKE ORDERS",
    ),
)
def create_table_like(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Create (or atomically replace) an empty table with another's columns, NOT NULL, keys and comments.

    fakesnow runs LIKE itself but loses its own side records (varchar lengths, comments), so the new
    table would report VARCHAR(n) columns as unbounded. Grants are not emulated: COPY GRANTS is accepted.
    """
    return _create_from(ctx, match, rows=False)


def _create_from(ctx: ShimContext, match: re.Match[str], *, rows: bool) -> ShimResult:
    """CREATE [OR REPLACE] TABLE [IF NOT EXISTS] <table> (CLONE|LIKE) <source>: the shared part."""
    target = TableName.resolve(match["table"], ctx.conn)
    source = TableName.resolve(match["source"], ctx.conn)
    with _ddl_transaction(ctx) as duck:
        _require_table(duck, source)
        if _table_exists(duck, target):
            if match["if_not_exists"]:
                return ShimResult.status(f"{target.name} already exists, statement succeeded.")
            if not match["replace"]:
                raise EmulatorStatementError(
                    f"SQL compilation error:\nObject '{target.name}' already exists.",
                    errno=2002,
                    sqlstate="42710",
                )
            duck.execute(f"DROP TABLE {target.sql}")
        _copy_table(duck, source, target, rows=rows)
    _copy_metadata(ctx.duck, source, target)
    return ShimResult.status(f"Table {target.name} successfully created.")


def _copy_metadata(duck: DuckDBPyConnection, source: TableName, target: TableName) -> None:
    where = "WHERE ext_table_catalog = ? AND ext_table_schema = ? AND ext_table_name = ?"
    with _transaction(duck):
        for ext_table in _EXT_TABLES:
            # SQL from names from the emulator's own catalog (bandit B608)
            duck.execute(f"DELETE FROM {ext_table} {where}", [target.catalog, target.schema, target.name])  # noqa: S608  # nosec B608
            duck.execute(
                # SQL from names from the emulator's own catalog (bandit B608)
                f"INSERT INTO {ext_table} SELECT ?, ?, ?, "  # noqa: S608  # nosec B608
                f"* EXCLUDE (ext_table_catalog, ext_table_schema, ext_table_name) FROM {ext_table} {where}",
                [target.catalog, target.schema, target.name, source.catalog, source.schema, source.name],
            )


def _copy_table(duck: DuckDBPyConnection, source: TableName, target: TableName, *, rows: bool = True) -> None:
    where = "WHERE database_name = ? AND schema_name = ? AND table_name = ?"
    key = [source.catalog, source.schema, source.name]
    columns = duck.execute(
        # SQL from names from the emulator's own catalog (bandit B608)
        f"SELECT column_name, data_type, is_nullable, column_default, comment FROM duckdb_columns() {where} "  # noqa: S608  # nosec B608
        "ORDER BY column_index",
        key,
    ).fetchall()
    keys = duck.execute(
        # SQL from names from the emulator's own catalog (bandit B608)
        f"SELECT constraint_type, constraint_column_names FROM duckdb_constraints() {where} "  # noqa: S608  # nosec B608
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') ORDER BY constraint_index",
        key,
    ).fetchall()
    definitions = [
        f"{_quote(name)} {data_type}"
        + ("" if default is None else f" DEFAULT {default}")
        + ("" if nullable else " NOT NULL")
        for name, data_type, nullable, default, _ in columns
    ]
    definitions += [f"{kind} ({', '.join(_quote(c) for c in names)})" for kind, names in keys]
    duck.execute(f"CREATE TABLE {target.sql} ({', '.join(definitions)})")
    if rows:
        # SQL from names from the emulator's own catalog (bandit B608)
        duck.execute(f"INSERT INTO {target.sql} SELECT * FROM {source.sql}")  # noqa: S608  # nosec B608
    for name, _, _, _, comment in columns:
        if comment:
            duck.execute(f"COMMENT ON COLUMN {target.sql}.{_quote(name)} IS {_duckdb_string(comment)}")


@shim(
    emulates="COMMENT [ IF EXISTS ] ON COLUMN <table_name>.<column_name> IS '<string_literal>'",
    pattern=rf"COMMENT\s+(?P<if_exists>IF\s+EXISTS\s+)?ON\s+COLUMN\s+(?P<column>{_QUALIFIED_COLUMN})\s+IS\s+(?P<comment>{_STRING})",
    examples=(
        "COMMENT ON COLUMN CUSTOMERS.EMAIL IS 'from public.customers.email'",
        "COMMENT IF EXISTS ON COLUMN ANALYTICS.PUBLIC.\"Orders\".\"note\" IS 'it''s free text'",
    ),
)
def comment_on_column(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Set a column's comment, as information_schema.columns.comment shows it.

    fakesnow rejects this statement (inline ``COMMENT`` in CREATE TABLE and ADD COLUMN is kept by
    the ``inline_column_comments`` fidelity patch; ``ALTER TABLE .. ALTER COLUMN .. COMMENT`` is
    accepted by fakesnow but not recorded).
    """
    *table_parts, column = identifier_parts(match["column"])
    table = TableName.resolve(".".join(_quote(p) for p in table_parts), ctx.conn)
    with _ddl_transaction(ctx) as duck:
        if match["if_exists"] and not _table_exists(duck, table):
            return ShimResult.status()
        _require_table(duck, table)
        found = duck.execute(
            "SELECT 1 FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? AND column_name = ?",
            [table.catalog, table.schema, table.name, column],
        ).fetchone()
        if found is None:
            raise EmulatorStatementError(
                f"SQL compilation error: error line 0 at position -1\ninvalid identifier '{column}'",
                errno=904,
                sqlstate="42000",
            )
        comment = _duckdb_string(string_literal_value(match["comment"]))
        duck.execute(f"COMMENT ON COLUMN {table.sql}.{_quote(column)} IS {comment}")
    return ShimResult.status()


# Registered last, after every name above exists: the shims for sessions, stages, grants and users,
# and those for table ownership, streams and INSERT OVERWRITE, live in modules of their own.
from aurora_batch_dev import snowflake_shims_session as snowflake_shims_session  # noqa: E402
from aurora_batch_dev import snowflake_shims_tables as snowflake_shims_tables  # noqa: E402
