"""Type fidelity: a table holding every type in the mapping, edge values included, travels
PostgreSQL -> staged Parquet -> Snowflake (emulator), and every value is compared by key."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from aurora_batch.config import TableOptions, settings_from_env
from aurora_batch.logic.invocation import run_table
from aurora_batch.wiring import Runtime

BIG_TEXT = "x" * (1 << 20) + "é"  # over 1 MB, ending in a multi-byte character
TRICKY_TEXT = "quote \" comma , backslash \\ newline \n tab \t cr \r unicode ñ 漢字 emoji 🚀 apostrophe '"

DDL = """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE {s}.mood AS ENUM ('sad', 'happy');
CREATE DOMAIN {s}.positive_int AS integer CHECK (VALUE > 0);
CREATE TABLE {s}.every_type (
    id           integer PRIMARY KEY,
    c_smallint   smallint,
    c_integer    integer,
    c_bigint     bigint,
    c_numeric    numeric(12,2),
    c_numeric38  numeric(38,10),
    c_numeric_u  numeric,
    c_real       real,
    c_double     double precision,
    c_text       text,
    c_varchar    varchar(20),
    c_char       char(4),
    c_citext     citext,
    c_boolean    boolean,
    c_date       date,
    c_timestamp  timestamp,
    c_timestamptz timestamptz,
    c_time       time,
    c_json       json,
    c_jsonb      jsonb,
    c_int_array  integer[],
    c_text_array text[],
    c_uuid       uuid,
    c_bytea      bytea,
    c_interval   interval,
    c_inet       inet,
    c_cidr       cidr,
    c_macaddr    macaddr,
    c_money      money,
    c_xml        xml,
    c_enum       {s}.mood,
    c_domain     {s}.positive_int,
    c_range      int4range,
    c_tsvector   tsvector
);
"""

INSERT = """
INSERT INTO {s}.every_type VALUES
(1, 1, 2, 3, 1234567890.12, 12345678901234567890.0123456789, 3.141592653, 1.5, 0.1,
 'plain', 'varchar', 'ab', 'CaseLess', true, '2024-02-29', '2024-02-29 12:34:56.123456',
 '2024-02-29 12:34:56.654321+05:30', '23:59:59.999999', '{{"a": 0, "a": [1, 2, {{"b": null}}], "c": "d"}}',
 '{{"z": 1, "a": {{"nested": true}}}}', ARRAY[1, NULL, 3], ARRAY['x', 'y,z', NULL],
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\xdeadbeef00', '1 year 2 months 3 days 04:05:06.789',
 '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56, '<a>x</a>', 'happy', 7, '[1,5)',
 'fat cat'),
(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(3, -32768, -2147483648, -9223372036854775808, -9999999999.99, -99999999999999999999.9999999999,
 -0.000000001, 'NaN', 'Infinity', '', '', '', '', false, 'infinity', '-infinity', 'infinity', '00:00:00',
 '[]', '{{}}', '{{}}', '{{}}', '00000000-0000-0000-0000-000000000000', '\\x', '-1 days', '::1', '::/0',
 '00:00:00:00:00:00', -0.01, '', 'sad', 1, 'empty', ''),
(4, 32767, 2147483647, 9223372036854775807, 9999999999.99, 99999999999999999999.9999999999,
 99999999999999999999.123456789, '-Infinity', '-Infinity', %(big)s, %(tricky_short)s, 'ñ🚀', 'ÄÖ',
 true, '0001-01-01', '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', '12:00:00',
 '"just a string"', '[1, "two", 3.5e10, null, true]', '{{-1, 0}}', '{{"with \\"quote\\"", "back\\\\slash"}}',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\\x00ff00ff', 'P1Y', '2001:db8::1', '2001:db8::/32',
 'ff:ff:ff:ff:ff:ff', 92233720368547758.07, '<?xml version="1.0"?><r/>', 'happy', 2147483647,
 '(,)', 'a:1 b:2'),
(5, 0, 0, 0, 0, 0, 0, -0.0, 1e-300, %(tricky)s, 'x', 'y', 'z', false, '1999-12-31',
 '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00.000001+00', '00:00:00.000001', 'null', 'null',
 '{{}}', '{{""}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '\\x0a0d09', '00:00:00', '0.0.0.0',
 '0.0.0.0/0', '01:02:03:04:05:06', 0, '<x/>', 'sad', 5, '[2,3]', '')
"""

COLUMNS = [
    "ID",
    "C_SMALLINT",
    "C_INTEGER",
    "C_BIGINT",
    "C_NUMERIC",
    "C_NUMERIC38",
    "C_NUMERIC_U",
    "C_REAL",
    "C_DOUBLE",
    "C_TEXT",
    "C_VARCHAR",
    "C_CHAR",
    "C_CITEXT",
    "C_BOOLEAN",
    "C_DATE",
    "C_TIMESTAMP",
    "C_TIMESTAMPTZ",
    "C_TIME",
    "C_JSON",
    "C_JSONB",
    "C_INT_ARRAY",
    "C_TEXT_ARRAY",
    "C_UUID",
    "C_BYTEA",
    "C_INTERVAL",
    "C_INET",
    "C_CIDR",
    "C_MACADDR",
    "C_MONEY",
    "C_XML",
    "C_ENUM",
    "C_DOMAIN",
    "C_RANGE",
    "C_TSVECTOR",
]

FAR_TS = datetime(9999, 12, 31, 23, 59, 59, 999999)
EXPECTED: dict[int, dict[str, Any]] = {
    1: {
        "C_SMALLINT": 1,
        "C_INTEGER": 2,
        "C_BIGINT": 3,
        "C_NUMERIC": Decimal("1234567890.12"),
        "C_NUMERIC38": Decimal("12345678901234567890.0123456789"),
        "C_NUMERIC_U": Decimal("3.141592653"),
        "C_REAL": 1.5,
        "C_DOUBLE": 0.1,
        "C_TEXT": "plain",
        "C_VARCHAR": "varchar",
        "C_CHAR": "ab  ",
        "C_CITEXT": "CaseLess",
        "C_BOOLEAN": True,
        "C_DATE": date(2024, 2, 29),
        "C_TIMESTAMP": datetime(2024, 2, 29, 12, 34, 56, 123456),
        "C_TIMESTAMPTZ": datetime(2024, 2, 29, 7, 4, 56, 654321, tzinfo=UTC),
        "C_TIME": time(23, 59, 59, 999999),
        "C_JSON": {"a": [1, 2, {"b": None}], "c": "d"},
        "C_JSONB": {"z": 1, "a": {"nested": True}},
        "C_INT_ARRAY": [1, None, 3],
        "C_TEXT_ARRAY": ["x", "y,z", None],
        "C_UUID": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "C_BYTEA": b"\xde\xad\xbe\xef\x00",
        "C_INTERVAL": "P1Y2M3DT4H5M6.789S",
        "C_INET": "192.168.0.1/24",
        "C_CIDR": "10.0.0.0/8",
        "C_MACADDR": "08:00:2b:01:02:03",
        "C_MONEY": "1234.56",
        "C_XML": "<a>x</a>",
        "C_ENUM": "happy",
        "C_DOMAIN": 7,
        "C_RANGE": "[1,5)",
        "C_TSVECTOR": "'cat' 'fat'",
    },
    2: {name: None for name in COLUMNS[1:]},
    3: {
        "C_SMALLINT": -32768,
        "C_INTEGER": -2147483648,
        "C_BIGINT": -9223372036854775808,
        "C_NUMERIC": Decimal("-9999999999.99"),
        "C_NUMERIC38": Decimal("-99999999999999999999.9999999999"),
        "C_NUMERIC_U": Decimal("-0.000000001"),
        "C_REAL": math.nan,
        "C_DOUBLE": math.inf,
        "C_TEXT": "",
        "C_VARCHAR": "",
        "C_CHAR": "    ",
        "C_CITEXT": "",
        "C_BOOLEAN": False,
        # +-infinity and out-of-range values are clamped to the documented sentinels, and counted
        "C_DATE": date(9999, 12, 31),
        "C_TIMESTAMP": datetime(1, 1, 1),
        "C_TIMESTAMPTZ": FAR_TS.replace(tzinfo=UTC),
        "C_TIME": time(0, 0),
        "C_JSON": [],
        "C_JSONB": {},
        "C_INT_ARRAY": [],
        "C_TEXT_ARRAY": [],
        "C_UUID": "00000000-0000-0000-0000-000000000000",
        "C_BYTEA": b"",
        "C_INTERVAL": "P-1D",
        "C_INET": "::1",
        "C_CIDR": "::/0",
        "C_MACADDR": "00:00:00:00:00:00",
        "C_MONEY": "-0.01",
        "C_XML": "",
        "C_ENUM": "sad",
        "C_DOMAIN": 1,
        "C_RANGE": "empty",
        "C_TSVECTOR": "",
    },
    4: {
        "C_SMALLINT": 32767,
        "C_INTEGER": 2147483647,
        "C_BIGINT": 9223372036854775807,
        "C_NUMERIC": Decimal("9999999999.99"),
        "C_NUMERIC38": Decimal("99999999999999999999.9999999999"),
        "C_NUMERIC_U": Decimal("99999999999999999999.123456789"),
        "C_REAL": -math.inf,
        "C_DOUBLE": -math.inf,
        "C_TEXT": BIG_TEXT,
        "C_VARCHAR": TRICKY_TEXT[:20],
        "C_CHAR": "ñ🚀  ",
        "C_CITEXT": "ÄÖ",
        "C_BOOLEAN": True,
        "C_DATE": date(1, 1, 1),
        "C_TIMESTAMP": datetime(1970, 1, 1),
        "C_TIMESTAMPTZ": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "C_TIME": time(12, 0),
        "C_JSON": "just a string",
        "C_JSONB": [1, "two", 3.5e10, None, True],
        "C_INT_ARRAY": [-1, 0],
        "C_TEXT_ARRAY": ['with "quote"', "back\\slash"],
        "C_UUID": "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "C_BYTEA": b"\x00\xff\x00\xff",
        "C_INTERVAL": "P1Y",
        "C_INET": "2001:db8::1",
        "C_CIDR": "2001:db8::/32",
        "C_MACADDR": "ff:ff:ff:ff:ff:ff",
        "C_MONEY": "92233720368547758.07",
        "C_XML": "<r/>",  # PostgreSQL's own output drops a plain 1.0 declaration
        "C_ENUM": "happy",
        "C_DOMAIN": 2147483647,
        "C_RANGE": "(,)",
        "C_TSVECTOR": "'a':1 'b':2",
    },
    5: {
        "C_SMALLINT": 0,
        "C_INTEGER": 0,
        "C_BIGINT": 0,
        "C_NUMERIC": Decimal("0.00"),
        "C_NUMERIC38": Decimal("0E-10"),
        "C_NUMERIC_U": Decimal("0"),
        "C_REAL": -0.0,
        "C_DOUBLE": 1e-300,
        "C_TEXT": TRICKY_TEXT,
        "C_VARCHAR": "x",
        "C_CHAR": "y   ",
        "C_CITEXT": "z",
        "C_BOOLEAN": False,
        "C_DATE": date(1999, 12, 31),
        "C_TIMESTAMP": datetime(2000, 1, 1, 0, 0, 0, 1),
        "C_TIMESTAMPTZ": datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "C_TIME": time(0, 0, 0, 1),
        "C_JSON": None,
        "C_JSONB": None,
        "C_INT_ARRAY": [],
        "C_TEXT_ARRAY": [""],
        "C_UUID": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12",
        "C_BYTEA": b"\n\r\t",
        "C_INTERVAL": "PT0S",
        "C_INET": "0.0.0.0",  # noqa: S104 - a value, not a bind address
        "C_CIDR": "0.0.0.0/0",
        "C_MACADDR": "01:02:03:04:05:06",
        "C_MONEY": "0.00",
        "C_XML": "<x/>",
        "C_ENUM": "sad",
        "C_DOMAIN": 5,
        "C_RANGE": "[2,4)",
        "C_TSVECTOR": "",
    },
}
SEMI_STRUCTURED = {"C_JSON", "C_JSONB", "C_INT_ARRAY", "C_TEXT_ARRAY"}


def _normalise(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in SEMI_STRUCTURED:
        return json.loads(value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return bool((expected == actual and type(expected) is type(actual)) or expected == actual)


@pytest.fixture
def every_type_table(stack: Any, pg_schema: str) -> str:
    schema = f'"{pg_schema}"'
    admin = stack.pg_connect(superuser=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(DDL.format(s=schema))
            cursor.execute(f"ALTER TABLE {schema}.every_type OWNER TO {stack.pg.user}")
            cursor.execute(
                INSERT.format(s=schema)
                .replace("%(", "%%(")
                .replace("%%(big)s", "%(big)s")
                .replace("%%(tricky)s", "%(tricky)s")
                .replace("%%(tricky_short)s", "%(tricky_short)s"),
                {"big": BIG_TEXT, "tricky": TRICKY_TEXT, "tricky_short": TRICKY_TEXT[:20]},
            )
        admin.commit()
    finally:
        admin.close()
    return pg_schema


@pytest.mark.parametrize("staging_format", ["parquet", "csv"])
def test_every_type_round_trips_exactly(
    stack: Any, stack_env: dict[str, str], every_type_table: str, sf_schema: str, staging_format: str
) -> None:
    runtime = Runtime(settings_from_env({**os.environ, "STAGING_FORMAT": staging_format}))
    options = TableOptions(schema_name=every_type_table, table_name="every_type", target_schema=sf_schema)

    report = run_table(options, runtime).to_dict()

    assert report["status"] == "succeeded", report["error"]
    assert report["rows_loaded"] == 5
    # +-infinity dates and timestamps were clamped, counted and warned about
    assert report["clamped_values"] == {"C_DATE": 2, "C_TIMESTAMP": 1, "C_TIMESTAMPTZ": 1}
    assert any("clamped" in w for w in report["warnings"])

    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f'SELECT {", ".join(COLUMNS)} FROM "ANALYTICS"."{sf_schema}"."EVERY_TYPE" ORDER BY ID')
        rows = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()}
        cursor.execute(
            "SELECT COLUMN_NAME, DATA_TYPE FROM ANALYTICS.INFORMATION_SCHEMA.COLUMNS "
            f"WHERE TABLE_SCHEMA = '{sf_schema}' AND TABLE_NAME = 'EVERY_TYPE'"
        )
        types = dict(cursor.fetchall())
    finally:
        connection.close()

    assert sorted(rows) == [1, 2, 3, 4, 5]
    mismatches = []
    for key, expected_row in EXPECTED.items():
        for column, expected in expected_row.items():
            actual = _normalise(column, rows[key][column])
            if not _same(expected, actual):
                shown = actual if not isinstance(actual, str) or len(actual) < 80 else f"<{len(actual)} chars>"
                mismatches.append(f"id={key} {column}: expected {expected!r:.80} got {shown!r:.80}")
    assert not mismatches, "\n".join(mismatches)
    for key, expected_row in EXPECTED.items():  # each timestamptz as an instant, whatever zone it reads back in
        expected, actual = expected_row["C_TIMESTAMPTZ"], rows[key]["C_TIMESTAMPTZ"]
        if expected is not None:
            assert actual.tzinfo is not None, f"id={key}: {actual!r} lost its time zone"
            assert actual.timestamp() == expected.timestamp(), f"id={key}: {actual!r} is not the instant {expected!r}"
    assert types["C_JSONB"] == "VARIANT"
    assert types["C_TIMESTAMPTZ"] == "TIMESTAMP_TZ"
    assert types["C_TIMESTAMP"] == "TIMESTAMP_NTZ"
    assert types["C_NUMERIC"] == "NUMBER"
    assert types["C_BYTEA"] == "BINARY"
    assert types["C_DOUBLE"] == "FLOAT"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1.0000000001", "ten fractional digits"),
        ("123456789012345678901234567890", "thirty integer digits"),
        ("NaN", "NaN"),
    ],
)
def test_an_unconstrained_numeric_that_does_not_fit_fails_naming_table_column_and_key(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str, value: str, why: str
) -> None:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{pg_schema}".amounts (id int PRIMARY KEY, amount numeric)')
        cursor.execute(f'INSERT INTO "{pg_schema}".amounts SELECT g, g / 8.0 FROM generate_series(1, 5000) g')
        cursor.execute(f'UPDATE "{pg_schema}".amounts SET amount = %s::numeric WHERE id = 4321', (value,))
        connection.commit()

    report = run_table(
        TableOptions(schema_name=pg_schema, table_name="amounts", target_schema=sf_schema),
        Runtime(settings_from_env()),
    ).to_dict()

    assert report["status"] == "failed", why
    error = report["error"]
    assert error["error"] == "ValueConversionError"
    assert error["table"] == f"{pg_schema}.amounts"
    assert error["column"] == "amount"
    assert error["key"] == {"id": "4321"}
    assert "4321" in error["message"] and "amount" in error["message"]
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM ANALYTICS.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '{sf_schema}'")
        assert cursor.fetchone()[0] <= 1  # at most the empty target created before the extract; no work table
    finally:
        connection.close()


def test_rows_longer_than_the_extract_batch_come_through_whole(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str
) -> None:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{pg_schema}".wide (id int PRIMARY KEY, body text)')
        cursor.execute(
            f'INSERT INTO "{pg_schema}".wide '
            "SELECT g, repeat(chr(64 + g), 3 * 1024 * 1024) FROM generate_series(1, 3) g"
        )
        connection.commit()
    runtime = Runtime(settings_from_env({**os.environ, "EXTRACT_BATCH_BYTES": str(1 << 20)}))

    report = run_table(TableOptions(schema_name=pg_schema, table_name="wide", target_schema=sf_schema), runtime)

    assert report.status == "succeeded", report.error
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(
            f'SELECT ID, LENGTH(BODY), LEFT(BODY, 1), RIGHT(BODY, 1) FROM "ANALYTICS"."{sf_schema}"."WIDE" ORDER BY ID'
        )
        assert cursor.fetchall() == [(1, 3 << 20, "A", "A"), (2, 3 << 20, "B", "B"), (3, 3 << 20, "C", "C")]
    finally:
        connection.close()
