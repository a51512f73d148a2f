"""Strictness patches: fakesnow (DuckDB underneath) is looser than Snowflake in places where a loader
can be wrong without any test noticing. Each patch here makes the emulator answer as Snowflake does,
following the documentation page it names, so a test fails on the emulator as it would on Snowflake.

They register in emulator_fidelity's PATCHES and are applied with the other fidelity patches, in
the emulator process only; production code never sees them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aurora_batch_dev.emulator_fidelity import _register

# https://docs.snowflake.com/en/sql-reference/parameters#timezone : the default of TIMEZONE
SNOWFLAKE_DEFAULT_TIMEZONE = "America/Los_Angeles"
_PARSE_JSON_UDF = "_aurora_sf_parse_json"
_copy_connection = threading.local()  # the DuckDB connection of the COPY running in this thread


@_register("session_time_zone")
def session_time_zone() -> None:
    """Snowflake's TIMEZONE parameter defaults to America/Los_Angeles; a client sets it per session
    (login session parameter TIMEZONE). It decides how a wall-clock time becomes a TIMESTAMP_TZ.
    fakesnow runs every session in UTC. This starts each session in America/Los_Angeles and applies
    a TIMEZONE sent at login. https://docs.snowflake.com/en/sql-reference/parameters#timezone"""
    import fakesnow.server as fakesnow_server
    from fakesnow.fakes import FakeSnowflakeConnection
    from starlette.requests import Request

    original_init: Callable[..., None] = FakeSnowflakeConnection.__init__

    def init_in_default_time_zone(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        set_session_time_zone(self._duck_conn, SNOWFLAKE_DEFAULT_TIMEZONE)

    FakeSnowflakeConnection.__init__ = init_in_default_time_zone  # type: ignore[method-assign]  # the patch itself

    # A TIMESTAMP_TZ result now arrives in the session's zone; fakesnow encodes only UTC ones.
    import fakesnow.arrow as fakesnow_arrow
    import pyarrow as pa

    encode: Callable[[Any], Any] = fakesnow_arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: Any) -> Any:
        if ts.type.tz and ts.type.tz != "UTC":
            ts = ts.cast(pa.timestamp(ts.type.unit, tz="UTC"))  # the same instants
        return encode(ts)

    fakesnow_arrow.timestamp_to_sf_struct = timestamp_to_sf_struct

    original_login = fakesnow_server.login_request

    async def login_request(request: Request) -> Any:
        response = await original_login(request)
        answer = json.loads(bytes(response.body))
        if answer.get("success"):
            body = await request.body()  # cached by Starlette; the emulator decompressed it already
            parameters = _login_session_parameters(body, request.headers.get("Content-Encoding"))
            time_zone = next((v for k, v in parameters.items() if k.upper() == "TIMEZONE"), None)
            if isinstance(time_zone, str):
                conn = fakesnow_server.sessions[answer["data"]["token"]]
                set_session_time_zone(conn._duck_conn, time_zone)
        return response

    fakesnow_server.login_request = login_request


def _login_session_parameters(body: bytes, encoding: str | None) -> dict[str, Any]:
    import gzip

    if encoding == "gzip":
        body = gzip.decompress(body)
    parameters: dict[str, Any] = json.loads(body)["data"].get("SESSION_PARAMETERS") or {}
    return parameters


def set_session_time_zone(duck: Any, time_zone: str) -> None:
    quoted = "'" + time_zone.replace("'", "''") + "'"  # SET takes no bound parameters
    duck.execute(f"SET SESSION TimeZone = {quoted}")


@_register("parse_json_duplicate_keys")
def parse_json_duplicate_keys() -> None:
    """Snowflake's PARSE_JSON(expr) refuses a JSON object with a duplicate key ('s', strict, is the
    default); PARSE_JSON(expr, 'd') allows them and keeps the last value of each key. A blank string
    gives NULL. fakesnow casts the text to DuckDB's JSON, which keeps every duplicate.
    https://docs.snowflake.com/en/sql-reference/functions/parse_json"""
    import fakesnow.transforms as fakesnow_transforms
    from fakesnow.fakes import FakeSnowflakeConnection
    from sqlglot import exp

    original_init: Callable[..., None] = FakeSnowflakeConnection.__init__

    def init_with_parse_json(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        register_parse_json(self._duck_conn)

    FakeSnowflakeConnection.__init__ = init_with_parse_json  # type: ignore[method-assign]  # the patch itself
    original: Callable[[Any], Any] = fakesnow_transforms.try_parse_json

    def parse_json(expression: Any) -> Any:
        expression = original(expression)
        if isinstance(expression, exp.ParseJSON) and not expression.args.get("safe"):
            mode = expression.expression or exp.Literal.string("s")
            call = exp.Anonymous(this=_PARSE_JSON_UDF, expressions=[expression.this, mode])
            return exp.Cast(this=call, to=exp.DataType.build("JSON"))
        return expression

    fakesnow_transforms.try_parse_json = parse_json


def register_parse_json(duck: Any) -> None:
    """PARSE_JSON as a temporary macro of the session's connection. Strict mode counts every key
    path (json_tree) and fails on a repeated one. With 'd' the text is stored as given: DuckDB's
    JSON then keeps both values, where Snowflake keeps only the last one."""
    duck.execute(
        # SQL from names from the emulator's own catalog (bandit B608)
        f"CREATE OR REPLACE TEMP MACRO {_PARSE_JSON_UDF}(x, mode) AS CASE "  # noqa: S608  # nosec B608
        "WHEN nullif(trim(x), '') IS NULL THEN NULL "
        "WHEN lower(mode) <> 'd' AND "
        "(SELECT count(*) - count(DISTINCT fullkey) FROM json_tree(nullif(trim(x), ''))) > 0 "
        # a conversion error: fakesnow answers it as a statement error (DuckDB's error() is a 500)
        "THEN CAST(CAST('Error parsing JSON: duplicate object attribute' AS INTEGER) AS JSON) "
        "ELSE CAST(x AS JSON) END"
    )


@_register("parquet_logical_types")
def parquet_logical_types() -> None:
    """Snowflake reads a Parquet file's logical types only with the file format option
    USE_LOGICAL_TYPE = TRUE. Without it, a column with only a logical TIMESTAMP/TIME annotation
    (what pyarrow writes for a timestamp without time zone, and for time) is a plain INT64, which a
    TIMESTAMP or TIME column refuses; a UTC-adjusted TIMESTAMP_MICROS/MILLIS (legacy converted type)
    is a wall-clock TIMESTAMP_NTZ, so loading it into TIMESTAMP_TZ applies the session's TIMEZONE.
    fakesnow reads every logical type. https://docs.snowflake.com/en/sql-reference/sql/create-file-format
    (TYPE = PARQUET, USE_LOGICAL_TYPE)"""
    import fakesnow.copy_into as copy_into
    import fakesnow.cursor as fakesnow_cursor
    from sqlglot import exp

    @dataclass
    class SnowflakeParquet(copy_into.ReadParquet):
        use_logical_type: bool = False

        def read_expression(self, url: str) -> Any:
            plain = super().read_expression(url)
            duck = getattr(_copy_connection, "duck", None)
            if self.use_logical_type or duck is None:
                return plain
            projections = _parquet_without_logical_types(duck, url)
            if projections is None:
                return plain
            # SQL from names from the emulator's own catalog (bandit B608)
            return exp.func("query", exp.Literal.string(f"SELECT {projections} FROM {plain.sql('duckdb')}"))  # noqa: S608  # nosec B608

    original_params = copy_into._params

    def _params(expr: Any, params: Any = None) -> Any:
        cparams = original_params(expr, params)
        if isinstance(cparams.file_format, copy_into.ReadParquet):
            use_logical_type = False
            for param in expr.args.get("params", []):
                if param.this.name.upper() != "FILE_FORMAT":
                    continue
                for option in param.expressions:
                    if option.this.name.upper() == "USE_LOGICAL_TYPE":
                        value = option.args["value"]
                        use_logical_type = value.this is True or str(value.name).upper() == "TRUE"
            cparams.file_format = SnowflakeParquet(use_logical_type=use_logical_type)
        return cparams

    copy_into._params = _params
    original_copy: Callable[..., Any] = fakesnow_cursor.copy_into  # type: ignore[attr-defined]  # imported there

    def copy_into_with_connection(duck_conn: Any, *args: Any, **kwargs: Any) -> Any:
        _copy_connection.duck = duck_conn
        try:
            return original_copy(duck_conn, *args, **kwargs)
        finally:
            _copy_connection.duck = None

    fakesnow_cursor.copy_into = copy_into_with_connection  # type: ignore[attr-defined]  # the name cursor.py calls


_TIME_ANNOTATION = re.compile(r"^(TimestampType|TimeType)\(isAdjustedToUTC=(\d)")


def _parquet_without_logical_types(duck: Any, url: str) -> str | None:
    """The projection that reads the file as Snowflake does without logical types, or None when
    no column is read differently."""
    rows = duck.execute(
        "SELECT name, logical_type FROM parquet_schema(?) WHERE num_children IS NULL OR num_children = 0", [url]
    ).fetchall()
    projections, changed = [], False
    for name, logical_type in rows:
        column = '"' + str(name).replace('"', '""') + '"'
        annotation = _TIME_ANNOTATION.match(str(logical_type or ""))
        legacy = annotation is not None and annotation[2] == "1" and "NANOS=<null>" in str(logical_type)
        if annotation is None:
            projections.append(column)
        elif not legacy:
            # No legacy converted type: the raw INT64 (microseconds since the epoch or midnight).
            changed = True
            raw = (
                f"epoch_us({column})" if annotation[1] == "TimestampType" else f"epoch_us(DATE '1970-01-01' + {column})"
            )
            projections.append(f"{raw} AS {column}")
        elif annotation[1] == "TimestampType":
            changed = True  # TIMESTAMP_MICROS/MILLIS: the UTC wall clock, without a time zone
            projections.append(f"timezone('UTC', {column}) AS {column}")
        else:
            projections.append(column)
    return ", ".join(projections) if changed else None


@_register("quoted_database_and_schema_names_are_case_sensitive")
def quoted_database_and_schema_names_are_case_sensitive() -> None:
    """In Snowflake a quoted name is case-sensitive: "analytics" is not the database ANALYTICS
    (an unquoted analytics is). DuckDB matches every name case-insensitively, so fakesnow finds
    ANALYTICS for "analytics". This refuses a quoted database or schema name that only matches an
    existing one when the case is ignored, as Snowflake does (002003, does not exist).
    https://docs.snowflake.com/en/sql-reference/identifiers-syntax"""
    import snowflake.connector.errors
    from fakesnow.cursor import FakeSnowflakeCursor
    from sqlglot import exp

    original: Callable[[Any, Any], None] = FakeSnowflakeCursor.check_db_and_schema

    def check_db_and_schema(self: Any, expression: Any) -> None:
        original(self, expression)
        duck = self._duck_conn
        for table in expression.find_all(exp.Table):
            catalog, schema = table.args.get("catalog"), table.args.get("db")
            for kind, identifier in (("Database", catalog), ("Schema", schema)):
                if not isinstance(identifier, exp.Identifier) or not identifier.quoted:
                    continue
                name = identifier.this
                if kind == "Database":
                    query = "SELECT database_name FROM duckdb_databases() WHERE lower(database_name) = lower(?)"
                    found = [row[0] for row in duck.execute(query, [name]).fetchall()]
                else:
                    database = catalog.name if isinstance(catalog, exp.Identifier) and catalog.quoted else None
                    database = database or (catalog.name.upper() if catalog else self._conn.database)
                    query = (
                        "SELECT schema_name FROM duckdb_schemas() "
                        "WHERE lower(database_name) = lower(?) AND lower(schema_name) = lower(?)"
                    )
                    found = [row[0] for row in duck.execute(query, [database, name]).fetchall()]
                if found and name not in found:
                    raise snowflake.connector.errors.ProgrammingError(
                        msg=f"SQL compilation error:\n{kind} '\"{name}\"' does not exist or not authorized.",
                        errno=2003,
                        sqlstate="02000",
                    )

    FakeSnowflakeCursor.check_db_and_schema = check_db_and_schema  # type: ignore[method-assign]


@_register("match_by_column_name_quotes_the_table")
def match_by_column_name_quotes_the_table() -> None:
    """Snowflake's COPY .. MATCH_BY_COLUMN_NAME loads into any table, "Order Items" included;
    fakesnow describes the target table with its name unquoted, which fails for a name that needs
    quoting. https://docs.snowflake.com/en/sql-reference/sql/copy-into-table"""
    import fakesnow.copy_into as copy_into

    def _describe_table(table: Any, duck_conn: Any, current_database: Any, current_schema: Any) -> list[Any]:
        parts = (table.catalog or current_database, table.db or current_schema, table.name)
        qualified = ".".join('"' + str(part).replace('"', '""') + '"' for part in parts)
        return [(row[0], row[1]) for row in duck_conn.execute(f"DESCRIBE {qualified}").fetchall()]

    copy_into._describe_table = _describe_table


def apply_all() -> None:
    session_time_zone()
    parse_json_duplicate_keys()
    parquet_logical_types()
    quoted_database_and_schema_names_are_case_sensitive()
    match_by_column_name_quotes_the_table()
