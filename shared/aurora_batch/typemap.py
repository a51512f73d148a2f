"""The type mapping, PostgreSQL -> Arrow -> Snowflake, in one table.

Every source column gets:
- the SELECT expression used inside `COPY (SELECT ...) TO STDOUT (FORMAT binary)`,
- the Arrow type it is staged as (the driver decodes the binary value, then Arrow casts it),
- the Snowflake type of the target column, and the type it has in the transient staging table,
- the expression that turns a staged value into a target value (PARSE_JSON, TO_BINARY, ...).

The mapping is lossless by default. docs/CONFIGURATION.md renders the same table
(`python -m aurora_batch.typemap` prints it as Markdown; a unit test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa

from aurora_batch.errors import SourceSchemaError
from aurora_batch.model import SourceColumn, quote_pg

# Snowflake's NUMBER holds at most 38 digits.
SNOWFLAKE_MAX_PRECISION = 38
# numeric without a declared precision lands as NUMBER(38, UNCONSTRAINED_NUMERIC_SCALE). A value
# that does not fit (more fractional digits, 30+ integer digits, NaN, +-Infinity) fails the run.
UNCONSTRAINED_NUMERIC_SCALE = 9

# Dates and timestamps outside Snowflake's supported range, and +-infinity, are clamped to these
# documented sentinels; the extract counts them and warns.
DATE_MIN = "0001-01-01"
DATE_MAX = "9999-12-31"
TIMESTAMP_MIN = "0001-01-01 00:00:00"
TIMESTAMP_MAX = "9999-12-31 23:59:59.999999"

PARSE_JSON_LAST_KEY_WINS = "PARSE_JSON({col}, 'd')"


@dataclass(frozen=True)
class ColumnType:
    """How one source column travels."""

    family: str  # row label of the mapping table
    select_sql: str  # expression over the quoted column, e.g. 'array_to_json("tags")::text'
    arrow_type: pa.DataType
    snowflake_type: str
    staged_type: str
    load_expression: str  # "{col}" is replaced by the quoted staged column
    clamped_sentinels: tuple[object, ...] = ()  # values that mean "clamped" (counted per batch)


@dataclass(frozen=True)
class MappingRow:
    """One row of the documented mapping table."""

    postgres: str
    arrow: str
    snowflake: str
    note: str


def _integer(width: int) -> Callable[[SourceColumn, str], ColumnType]:
    arrow, digits = {2: (pa.int16(), 5), 4: (pa.int32(), 10), 8: (pa.int64(), 19)}[width]

    def build(column: SourceColumn, col: str) -> ColumnType:
        sf = f"NUMBER({digits},0)"
        return ColumnType("integer", col, arrow, sf, sf, "{col}")

    return build


def _numeric(column: SourceColumn, col: str) -> ColumnType:
    # The exact decimal text, which Arrow's safe cast parses: a value that would lose a digit or
    # overflow the precision fails instead of rounding. (numeric_out on the server is cheaper
    # than decoding the binary base-10000 digits on the client.)
    select = f"{col}::text"
    precision, scale = column.numeric_precision, column.numeric_scale
    if precision is None:
        precision, scale = SNOWFLAKE_MAX_PRECISION, UNCONSTRAINED_NUMERIC_SCALE
        sf = f"NUMBER({precision},{scale})"
        return ColumnType("numeric", select, pa.decimal128(precision, scale), sf, sf, "{col}")
    scale = scale or 0
    if scale < 0:
        # numeric(p,-s) rounds to 10^s: its values are integers of up to p+s digits
        precision, scale = precision - scale, 0
    elif scale > precision:
        # numeric(p,s), s > p: fractions below 10^(p-s), with s fractional digits
        precision = scale
    if precision > SNOWFLAKE_MAX_PRECISION:
        # More digits than Snowflake's NUMBER holds: keep the exact decimal text.
        return _text_form(column, col)
    sf = f"NUMBER({precision},{scale})"
    return ColumnType("numeric", select, pa.decimal128(precision, scale), sf, sf, "{col}")


def _float(width: int) -> Callable[[SourceColumn, str], ColumnType]:
    arrow = pa.float32() if width == 4 else pa.float64()

    def build(column: SourceColumn, col: str) -> ColumnType:
        return ColumnType("float", col, arrow, "FLOAT", "FLOAT", "{col}")

    return build


def _varchar(column: SourceColumn, col: str) -> ColumnType:
    sf = f"VARCHAR({column.char_length})" if column.char_length else "VARCHAR"
    # citext and name are not types the driver knows; their text is the value. char(n) keeps its
    # padding: its output function pads, and a ::text cast would trim it.
    select = col if column.type_name in ("text", "varchar", "bpchar") else f"{col}::text"
    return ColumnType("text", select, pa.large_string(), sf, sf, "{col}")


def _boolean(column: SourceColumn, col: str) -> ColumnType:
    return ColumnType("boolean", col, pa.bool_(), "BOOLEAN", "BOOLEAN", "{col}")


def _date(column: SourceColumn, col: str) -> ColumnType:
    clamp = (
        f"CASE WHEN {col} > DATE '{DATE_MAX}' THEN DATE '{DATE_MAX}' "
        f"WHEN {col} < DATE '{DATE_MIN}' THEN DATE '{DATE_MIN}' ELSE {col} END"
    )
    sentinels = (date.fromisoformat(DATE_MIN), date.fromisoformat(DATE_MAX))
    return ColumnType("date", clamp, pa.date32(), "DATE", "DATE", "{col}", sentinels)


def _timestamp(with_tz: bool) -> Callable[[SourceColumn, str], ColumnType]:
    literal = "TIMESTAMPTZ" if with_tz else "TIMESTAMP"
    suffix = "+00" if with_tz else ""

    def build(column: SourceColumn, col: str) -> ColumnType:
        low, high = f"{literal} '{TIMESTAMP_MIN}{suffix}'", f"{literal} '{TIMESTAMP_MAX}{suffix}'"
        clamp = f"CASE WHEN {col} > {high} THEN {high} WHEN {col} < {low} THEN {low} ELSE {col} END"
        arrow = pa.timestamp("us", tz="UTC") if with_tz else pa.timestamp("us")
        sf = "TIMESTAMP_TZ(6)" if with_tz else "TIMESTAMP_NTZ(6)"
        family = "timestamptz" if with_tz else "timestamp"
        tz = UTC if with_tz else None
        sentinels = tuple(datetime.fromisoformat(v).replace(tzinfo=tz) for v in (TIMESTAMP_MIN, TIMESTAMP_MAX))
        return ColumnType(family, clamp, arrow, sf, sf, "{col}", sentinels)

    return build


def _time(column: SourceColumn, col: str) -> ColumnType:
    return ColumnType("time", col, pa.time64("us"), "TIME(6)", "TIME(6)", "{col}")


def _json(column: SourceColumn, col: str) -> ColumnType:
    # Staged as text; Snowflake needs PARSE_JSON to make a queryable VARIANT. 'd': PostgreSQL json
    # keeps duplicate keys, which PARSE_JSON refuses by default; with 'd' the last value wins, as in jsonb.
    return ColumnType("json", col, pa.large_string(), "VARIANT", "VARCHAR", PARSE_JSON_LAST_KEY_WINS)


def _array(column: SourceColumn, col: str) -> ColumnType:
    # PostgreSQL's array text form is not JSON; array_to_json is, and keeps nesting and NULLs.
    return ColumnType(
        "array", f"array_to_json({col})::text", pa.large_string(), "ARRAY", "VARCHAR", PARSE_JSON_LAST_KEY_WINS
    )


def _uuid(column: SourceColumn, col: str) -> ColumnType:
    # uuid_out on the server: the canonical lowercase 8-4-4-4-12 text
    return ColumnType("uuid", f"{col}::text", pa.string(), "VARCHAR(36)", "VARCHAR(36)", "{col}")


def _bytea(column: SourceColumn, col: str) -> ColumnType:
    # Staged as lowercase hex text, decoded by Snowflake: exact bytes, no Python per-value work.
    return ColumnType(
        "bytea", f"encode({col}, 'hex')", pa.large_string(), "BINARY", "VARCHAR", "TO_BINARY({col}, 'HEX')"
    )


def _money(column: SourceColumn, col: str) -> ColumnType:
    # money's text form depends on lc_monetary; its numeric value does not.
    return ColumnType("money", f"{col}::numeric::text", pa.large_string(), "VARCHAR", "VARCHAR", "{col}")


def _text_form(column: SourceColumn, col: str) -> ColumnType:
    # format('%s') renders the value with the type's own output function: the canonical, lossless
    # text. (A ::text cast can differ: text(inet) always appends the netmask.) It makes '' of NULL.
    select = f"CASE WHEN {col} IS NULL THEN NULL ELSE format('%s', {col}) END"
    return ColumnType("text form", select, pa.large_string(), "VARCHAR", "VARCHAR", "{col}")


_BY_TYPE_NAME: dict[str, Callable[[SourceColumn, str], ColumnType]] = {
    "int2": _integer(2),
    "int4": _integer(4),
    "int8": _integer(8),
    "numeric": _numeric,
    "float4": _float(4),
    "float8": _float(8),
    "text": _varchar,
    "varchar": _varchar,
    "bpchar": _varchar,
    "citext": _varchar,
    "name": _varchar,
    "bool": _boolean,
    "date": _date,
    "timestamp": _timestamp(with_tz=False),
    "timestamptz": _timestamp(with_tz=True),
    "time": _time,
    "json": _json,
    "jsonb": _json,
    "uuid": _uuid,
    "bytea": _bytea,
    "money": _money,
}

MAPPING_TABLE: tuple[MappingRow, ...] = (
    MappingRow("smallint, integer, bigint", "int16, int32, int64", "NUMBER(5,0), NUMBER(10,0), NUMBER(19,0)", ""),
    MappingRow("numeric(p,s), p <= 38", "decimal128(p,s)", "NUMBER(p,s)", "exact"),
    MappingRow(
        "numeric (no precision)",
        f"decimal128(38,{UNCONSTRAINED_NUMERIC_SCALE})",
        f"NUMBER(38,{UNCONSTRAINED_NUMERIC_SCALE})",
        "a value with more than 9 fractional digits, 30 or more integer digits, NaN or Infinity "
        "fails the run, naming table, column and row key; never rounded",
    ),
    MappingRow(
        "numeric(p,s), s < 0 or s > p",
        "decimal128",
        "NUMBER(p-s,0) or NUMBER(s,s)",
        "PostgreSQL 15 scales Snowflake lacks; VARCHAR if that needs more than 38 digits",
    ),
    MappingRow("numeric(p,s), p > 38", "string", "VARCHAR", "exact decimal text"),
    MappingRow("real, double precision", "float32, float64", "FLOAT", "NaN and +-Infinity kept"),
    MappingRow("text, varchar(n), char(n), citext, name", "large_string", "VARCHAR / VARCHAR(n)", ""),
    MappingRow("boolean", "bool", "BOOLEAN", ""),
    MappingRow("date", "date32", "DATE", "+-infinity and out-of-range clamped to 0001-01-01/9999-12-31, counted"),
    MappingRow("timestamp", "timestamp[us]", "TIMESTAMP_NTZ(6)", "microseconds kept; out of range clamped, counted"),
    MappingRow(
        "timestamptz",
        "timestamp[us, UTC]",
        "TIMESTAMP_TZ(6)",
        "the instant kept exactly (UTC); out of range clamped",
    ),
    MappingRow("time", "time64[us]", "TIME(6)", ""),
    MappingRow(
        "json, jsonb",
        "large_string",
        "VARIANT",
        "staged as text, loaded with PARSE_JSON(.., 'd'): of a duplicate key in json the last value wins, as in jsonb",
    ),
    MappingRow("arrays (any element type)", "large_string", "ARRAY", "array_to_json, loaded with PARSE_JSON"),
    MappingRow("uuid", "string", "VARCHAR(36)", ""),
    MappingRow("bytea", "large_string (hex)", "BINARY", "loaded with TO_BINARY(..., 'HEX')"),
    MappingRow("money", "large_string", "VARCHAR", "numeric text, independent of lc_monetary"),
    MappingRow(
        "interval, inet, cidr, macaddr, xml, enum, range, tsvector, timetz, other",
        "large_string",
        "VARCHAR",
        "PostgreSQL text form (interval in ISO 8601)",
    ),
    MappingRow("domain", "as its base type", "as its base type", ""),
)


def column_type(column: SourceColumn) -> ColumnType:
    """The mapping for one source column. Domains arrive already resolved to their base type."""
    col = quote_pg(column.name)
    if column.type_category == "A":
        return _array(column, col)
    build = _BY_TYPE_NAME.get(column.type_name)
    if build is None:
        return _text_form(column, col)
    try:
        return build(column, col)
    except KeyError as exc:  # pragma: no cover - defensive: mapping table incomplete
        raise SourceSchemaError("no type mapping", column=column.name, pg_type=column.pg_type) from exc


def mapping_markdown() -> str:
    lines = ["| PostgreSQL | Arrow (staged) | Snowflake | Notes |", "|---|---|---|---|"]
    lines += [f"| {r.postgres} | {r.arrow} | {r.snowflake} | {r.note} |" for r in MAPPING_TABLE]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(mapping_markdown())
