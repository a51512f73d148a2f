"""Snowflake column types of a target: as INFORMATION_SCHEMA reports them, as the source now
needs them, and whether the one widens in place into the other (logic/load.py's schema evolution)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INCOMPATIBLE = object()  # `widening`'s answer when no in-place change gets from one type to the other


@dataclass(frozen=True)
class ExistingColumn:
    name: str
    data_type: str  # as INFORMATION_SCHEMA reports it: NUMBER, TEXT, VARIANT, ...
    length: int | None
    precision: int | None
    scale: int | None
    nullable: bool = True

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ExistingColumn:
        """A row of `describe_columns_sql` (IS_NULLABLE is 'YES' or 'NO')."""
        return cls(row[0], row[1], row[2], row[3], row[4], nullable=len(row) < 6 or str(row[5]).upper() != "NO")


@dataclass(frozen=True)
class ParsedType:
    family: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


_FAMILY = {
    "TEXT": "VARCHAR",
    "VARCHAR": "VARCHAR",
    "STRING": "VARCHAR",
    "CHAR": "VARCHAR",
    "NUMBER": "NUMBER",
    "DECIMAL": "NUMBER",
    "FLOAT": "FLOAT",
    "DOUBLE": "FLOAT",
    "REAL": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP_NTZ": "TIMESTAMP_NTZ",
    "TIMESTAMP_TZ": "TIMESTAMP_TZ",
    "TIMESTAMP_LTZ": "TIMESTAMP_LTZ",
    "VARIANT": "VARIANT",  # holds an ARRAY or an OBJECT; an ARRAY or OBJECT column holds only its own kind
    "ARRAY": "ARRAY",
    "OBJECT": "OBJECT",
    "BINARY": "BINARY",
}


def parse_type(sql_type: str) -> ParsedType:
    match = re.fullmatch(r"\s*([A-Z_]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*", sql_type.upper())
    if not match:
        return ParsedType(sql_type.upper())
    name, first, second = match.groups()
    family = _FAMILY.get(name, name)
    if family == "VARCHAR":
        return ParsedType(family, length=int(first) if first else None)
    if family == "NUMBER":
        return ParsedType(family, precision=int(first) if first else 38, scale=int(second) if second else 0)
    return ParsedType(family)


def existing_type(column: ExistingColumn) -> ParsedType:
    family = _FAMILY.get(column.data_type.upper(), column.data_type.upper())
    if family == "VARCHAR":
        # 16777216 (or 134217728) is Snowflake's unbounded VARCHAR
        unbounded = column.length is None or column.length >= 16_777_216
        return ParsedType(family, length=None if unbounded else column.length)
    if family == "NUMBER":
        return ParsedType(family, precision=column.precision or 38, scale=column.scale or 0)
    return ParsedType(family)


def widening(have: ParsedType, want: ParsedType) -> bool | object:
    """False if equal (or already wider), True if a supported in-place widening, else incompatible."""
    if have.family == "VARIANT" and want.family in ("ARRAY", "OBJECT"):
        return False  # a VARIANT holds arrays and objects
    if have.family != want.family:
        return INCOMPATIBLE
    if have.family == "VARCHAR":
        if have.length is None:
            return False
        return want.length is None or want.length > have.length
    if have.family == "NUMBER":
        assert have.precision is not None and want.precision is not None
        assert have.scale is not None and want.scale is not None
        if want.scale == have.scale:
            return want.precision > have.precision
        # Snowflake cannot change a NUMBER's scale; a narrower source still fits as it is.
        fits = want.scale < have.scale and want.precision - want.scale <= have.precision - have.scale
        return False if fits else INCOMPATIBLE
    return False


def render_type(parsed: ParsedType) -> str:
    if parsed.family == "VARCHAR":
        return f"VARCHAR({parsed.length})" if parsed.length else "VARCHAR"
    if parsed.family == "NUMBER":
        return f"NUMBER({parsed.precision},{parsed.scale})"
    return parsed.family
