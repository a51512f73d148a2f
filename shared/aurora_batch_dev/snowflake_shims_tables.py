"""Shims for replacing a table's rows and for who owns and who reads a table (fakesnow 0.11.18 lacks them).

Registered into ``snowflake_shims.SHIMS`` on import (``snowflake_shims`` imports this module last).
Ownership and streams are kept in this process, keyed by the table's resolved name: the emulator
has one all-powerful role, so these records exist only so the loader's checks can be exercised.
"""

from __future__ import annotations

import re
import threading

import snowflake.connector.errors
from fakesnow import statement_type

from aurora_batch_dev.errors import EmulatorStatementError
from aurora_batch_dev.snowflake_shims import (
    _IDENT,
    _QUALIFIED,
    _STRING,
    ShimContext,
    ShimResult,
    TableName,
    _require_table,
    identifier_parts,
    shim,
    string_literal_value,
)

_lock = threading.Lock()
_owners: dict[tuple[str, str, str], str] = {}  # table -> the role granted OWNERSHIP
_streams: dict[tuple[str, str, str], TableName] = {}  # stream -> the table it reads
DEFAULT_OWNER = "SYSADMIN"  # a session logged in without a role


def _key(table: TableName) -> tuple[str, str, str]:
    return (table.catalog, table.schema, table.name)


def _session_role(ctx: ShimContext) -> str:
    return ctx.session.role or DEFAULT_OWNER


@shim(
    emulates="INSERT OVERWRITE INTO <target_table> [ ( <target_col_name> [ , ... ] ) ] <query>",
    pattern=rf"INSERT\s+OVERWRITE\s+INTO\s+(?P<table>{_QUALIFIED})\s*(?P<rest>(?:\(|SELECT\b).*)",
    examples=(
        'INSERT OVERWRITE INTO "ANALYTICS"."PUBLIC"."ORDERS" ("ID") SELECT "ID" FROM "ORDERS__AB_STG_1"',
        "INSERT OVERWRITE INTO ORDERS SELECT * FROM ORDERS_STAGE",
    ),
)
def insert_overwrite_into(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Truncate the table and insert the query's rows in one transaction; answers the rows inserted.

    Snowflake keeps the table object (privileges, streams, history); readers see the old rows until
    the statement commits. Emulated by DELETE and INSERT in one transaction of the session, the
    query translated by fakesnow as any INSERT .. SELECT.
    https://docs.snowflake.com/en/sql-reference/sql/insert#optional-parameters (OVERWRITE)
    """
    table = TableName.resolve(match["table"], ctx.conn)
    _require_table(ctx.duck, table)
    cursor = ctx.conn.cursor()
    cursor.execute("BEGIN TRANSACTION")
    try:
        # SQL from names from the emulator's own catalog (bandit B608)
        cursor.execute(f"DELETE FROM {table.sql}")  # noqa: S608  # nosec B608
        cursor.execute(f"INSERT INTO {table.sql} {match['rest']}")
        inserted = cursor.rowcount or 0
        cursor.execute("COMMIT")
    except snowflake.connector.errors.Error as exc:
        cursor.execute("ROLLBACK")
        raise EmulatorStatementError(str(exc.msg), errno=exc.errno or 1003, sqlstate=exc.sqlstate or "42000") from exc
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return ShimResult(("number of rows inserted",), [(str(inserted),)], statement_type.INSERT)


@shim(
    emulates="GRANT OWNERSHIP ON TABLE <name> TO ROLE <role> [ { REVOKE | COPY } CURRENT GRANTS ]",
    pattern=(
        rf"GRANT\s+OWNERSHIP\s+ON\s+TABLE\s+(?P<table>{_QUALIFIED})\s+TO\s+ROLE\s+(?P<role>{_IDENT})"
        r"(?:\s+(?:REVOKE|COPY)\s+CURRENT\s+GRANTS)?"
    ),
    examples=("GRANT OWNERSHIP ON TABLE ANALYTICS.PUBLIC.ORDERS TO ROLE REPORTING_OWNER COPY CURRENT GRANTS",),
    first=True,
)
def grant_ownership_on_table(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Transfer a table's ownership to a role; SHOW GRANTS ON TABLE then names that role as owner."""
    table = TableName.resolve(match["table"], ctx.conn)
    _require_table(ctx.duck, table)
    (role,) = identifier_parts(match["role"])
    with _lock:
        _owners[_key(table)] = role
    return ShimResult.status()


@shim(
    emulates="SHOW GRANTS ON TABLE <name>",
    pattern=rf"SHOW\s+GRANTS\s+ON\s+TABLE\s+(?P<table>{_QUALIFIED})",
    examples=('SHOW GRANTS ON TABLE "ANALYTICS"."PUBLIC"."ORDERS"',),
)
def show_grants_on_table(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """The table's OWNERSHIP grant, as a row of Snowflake's SHOW GRANTS columns.

    Other privileges are not emulated. A table whose ownership was never transferred is owned by
    the role of the session that asks (the emulator does not record which role created a table).
    https://docs.snowflake.com/en/sql-reference/sql/show-grants
    """
    table = TableName.resolve(match["table"], ctx.conn)
    _require_table(ctx.duck, table)
    with _lock:
        owner = _owners.get(_key(table), _session_role(ctx))
    columns = ("created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name", "grant_option")
    row = (None, "OWNERSHIP", "TABLE", table.display, "ROLE", owner, "true")
    return ShimResult(columns, [row], statement_type.SHOW)


@shim(
    emulates="SELECT IS_ROLE_IN_SESSION( '<role_name>' )",
    pattern=rf"SELECT\s+IS_ROLE_IN_SESSION\s*\(\s*(?P<role>{_STRING})\s*\)",
    examples=("SELECT IS_ROLE_IN_SESSION('AURORA_BATCH')",),
)
def is_role_in_session(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """TRUE when the role is the session's role. Role hierarchies are not emulated (Snowflake also
    answers TRUE for a role the session's role inherits).
    https://docs.snowflake.com/en/sql-reference/functions/is_role_in_session"""
    role = string_literal_value(match["role"])
    answer = "true" if role == _session_role(ctx) else "false"
    return ShimResult(("is_role_in_session",), [(answer,)], statement_type.SELECT)


@shim(
    emulates="CREATE [ OR REPLACE ] STREAM [ IF NOT EXISTS ] <name> ON TABLE <table_name> ...",
    pattern=(
        rf"CREATE\s+(?:OR\s+REPLACE\s+)?STREAM\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})\s+"
        rf"ON\s+TABLE\s+(?P<table>{_QUALIFIED})(?:\s+.*)?"
    ),
    examples=("CREATE STREAM ORDERS_CHANGES ON TABLE ANALYTICS.PUBLIC.ORDERS",),
)
def create_stream(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Record a stream on a table (change tracking itself is not emulated); SHOW STREAMS lists it."""
    stream = TableName.resolve(match["name"], ctx.conn)
    table = TableName.resolve(match["table"], ctx.conn)
    _require_table(ctx.duck, table)
    with _lock:
        _streams[_key(stream)] = table
    return ShimResult.status(f"Stream {stream.name} successfully created.")


@shim(
    emulates="DROP STREAM [ IF EXISTS ] <name>",
    pattern=rf"DROP\s+STREAM\s+(?:IF\s+EXISTS\s+)?(?P<name>{_QUALIFIED})",
    examples=("DROP STREAM IF EXISTS ORDERS_CHANGES",),
)
def drop_stream(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Forget a stream."""
    stream = TableName.resolve(match["name"], ctx.conn)
    with _lock:
        _streams.pop(_key(stream), None)
    return ShimResult.status(f"{stream.name} successfully dropped.")


@shim(
    emulates="SHOW STREAMS [ IN { ACCOUNT | DATABASE [ <db_name> ] | SCHEMA [ <schema_name> ] } ]",
    pattern=rf"SHOW\s+STREAMS(?:\s+IN\s+(?P<scope>ACCOUNT|DATABASE|SCHEMA)(?:\s+(?P<name>{_QUALIFIED}))?)?",
    examples=("SHOW STREAMS IN DATABASE ANALYTICS", "SHOW STREAMS"),
)
def show_streams(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """The recorded streams with Snowflake's SHOW STREAMS columns; table_name is fully qualified.
    https://docs.snowflake.com/en/sql-reference/sql/show-streams"""
    scope = (match["scope"] or "SCHEMA").upper()
    named = identifier_parts(match["name"]) if match["name"] else []
    database = named[0] if scope == "DATABASE" and named else ctx.conn.database
    schema = (named[-1] if named else ctx.conn.schema) if scope == "SCHEMA" else None
    rows: list[tuple[str | None, ...]] = []
    with _lock:
        for (catalog, stream_schema, name), table in sorted(_streams.items()):
            if (scope != "ACCOUNT" and catalog != database) or (schema is not None and stream_schema != schema):
                continue
            source = f"{table.catalog}.{table.schema}.{table.name}"
            # created_on first, as Snowflake orders the columns: readers must go by name.
            rows.append((None, name, catalog, stream_schema, _session_role(ctx), "", source, "Table", "DELTA", "false"))
    columns = (
        "created_on",
        "name",
        "database_name",
        "schema_name",
        "owner",
        "comment",
        "table_name",
        "source_type",
        "type",
        "stale",
    )
    return ShimResult(columns, rows, statement_type.SHOW)


@shim(
    emulates="ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = <num>",
    pattern=r"ALTER\s+SESSION\s+SET\s+STATEMENT_TIMEOUT_IN_SECONDS\s*=\s*(?P<seconds>\d+)",
    examples=("ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 3600",),
)
def alter_session_set_statement_timeout(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Limit how long each following statement of the session may run (0: no limit); the emulator's
    statement control cancels a longer one (see emulator_statements)."""
    seconds = int(match["seconds"])
    if seconds > 604_800:
        raise EmulatorStatementError(
            f"invalid value [{seconds}] for parameter 'STATEMENT_TIMEOUT_IN_SECONDS'", errno=1008, sqlstate="22023"
        )
    ctx.session.statement_timeout = seconds or None
    return ShimResult.status(statement_type_id=statement_type.SCL)
