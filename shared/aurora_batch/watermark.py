"""Typed watermarks: a value of the incremental column, kept as a canonical string plus its type.

Values are always compared after parsing (never as strings): integers as Python ints (exact
beyond 2**53), dates as dates, timestamps at microsecond precision, timestamptz as instants.
Parsing is strict: a value that PostgreSQL could not have produced, or that would lose
precision (more than 6 fractional digits), is refused rather than rounded. No third-party
imports: the admin and cleanup Lambdas import this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import total_ordering
from typing import Any

from aurora_batch.errors import ConfigError, SourceSchemaError, WatermarkConflictError

WatermarkValue = int | date | datetime

_INTEGER = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
_OFFSET = re.compile(r"Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?")

# PostgreSQL base type names (pg_type.typname) usable as an incremental column.
_PG_TYPES = {
    "int2": "integer",
    "int4": "integer",
    "int8": "integer",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
}


class WatermarkType(StrEnum):
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    DATE = "date"
    INTEGER = "integer"


def watermark_type_for_pg(type_name: str, *, table: str | None = None, column: str | None = None) -> WatermarkType:
    """The watermark type of a column, from its PostgreSQL base type name (e.g. "int8")."""
    try:
        return WatermarkType(_PG_TYPES[type_name])
    except KeyError as exc:
        raise SourceSchemaError(
            "incremental column must be a timestamp, timestamptz, date or integer column",
            table=table,
            column=column,
            pg_type=type_name,
        ) from exc


def _watermark_type(type_: WatermarkType | str) -> WatermarkType:
    try:
        return WatermarkType(type_)
    except ValueError as exc:
        allowed = ", ".join(t.value for t in WatermarkType)
        raise ConfigError(f"watermark type must be one of {allowed}", field="type", value=type_) from exc


def _split_offset(value: str) -> tuple[str, str]:
    """Split '2024-01-01 10:00:00+02' into ('2024-01-01 10:00:00', '+02')."""
    match = re.search(r"(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)$", value)
    if match is None or match.start() < 16:  # a date's own '-DD' is not an offset
        return value, ""
    return value[: match.start()], match.group(1)


def parse_watermark(value: str, type_: WatermarkType | str) -> WatermarkValue:
    """Parse the string form of a watermark into an exactly comparable value."""
    kind = _watermark_type(type_)
    text = value.strip()
    try:
        if kind is WatermarkType.INTEGER:
            if not _INTEGER.fullmatch(text):
                raise ValueError("not an integer")
            return int(text)
        if kind is WatermarkType.DATE:
            if not _DATE.fullmatch(text):
                raise ValueError("not a date written YYYY-MM-DD")
            return date.fromisoformat(text)
        local, offset = _split_offset(text)
        if not _TIMESTAMP.fullmatch(local) or (offset and not _OFFSET.fullmatch(offset)):
            raise ValueError("not a timestamp written YYYY-MM-DD HH:MM[:SS[.ffffff]]")
        if kind is WatermarkType.TIMESTAMP and offset:
            raise ValueError("a timestamp (without time zone) must not carry a UTC offset")
        if kind is WatermarkType.TIMESTAMPTZ and not offset:
            raise ValueError("a timestamptz needs a UTC offset (e.g. +00:00 or Z)")
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"invalid {kind.value} watermark: {exc}", field="value", value=value) from exc


def format_watermark(parsed: WatermarkValue, type_: WatermarkType | str) -> str:
    """The canonical string of a parsed value: equal values always give equal strings."""
    kind = _watermark_type(type_)
    if isinstance(parsed, bool):
        raise ConfigError("a watermark cannot be a boolean", field="value", value=parsed)
    if kind is WatermarkType.INTEGER and isinstance(parsed, int):
        return str(parsed)
    if isinstance(parsed, datetime):
        if kind is WatermarkType.TIMESTAMP and parsed.tzinfo is None:
            return parsed.isoformat()
        if kind is WatermarkType.TIMESTAMPTZ and parsed.tzinfo is not None:
            try:
                return parsed.astimezone(UTC).isoformat()
            except OverflowError as exc:
                raise ConfigError(
                    "timestamptz watermark is outside years 1..9999 in UTC", field="value", value=str(parsed)
                ) from exc
    elif kind is WatermarkType.DATE and isinstance(parsed, date):
        return parsed.isoformat()
    raise ConfigError(
        f"a {type(parsed).__name__} value is not a {kind.value} watermark", field="value", value=str(parsed)
    )


@total_ordering
@dataclass(frozen=True, eq=True)
class Watermark:
    """A watermark value (canonical string form) and the type of its column.

    Construction validates and canonicalises the value, so equality is exact, and ordering
    compares parsed values. Comparing watermarks of different types raises."""

    value: str
    type: WatermarkType

    def __post_init__(self) -> None:
        kind = _watermark_type(self.type)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "value", format_watermark(parse_watermark(self.value, kind), kind))

    @classmethod
    def of(cls, parsed: WatermarkValue, type_: WatermarkType | str) -> Watermark:
        """A watermark from a value as the database driver returns it (int, date, datetime)."""
        return cls(format_watermark(parsed, type_), WatermarkType(type_))

    @property
    def parsed(self) -> WatermarkValue:
        return parse_watermark(self.value, self.type)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Watermark):
            return NotImplemented
        return compare_watermarks(self, other) < 0


def compare_watermarks(left: Watermark, right: Watermark) -> int:
    """-1, 0 or 1 as left is before, equal to or after right (same type required)."""
    if left.type is not right.type:
        raise WatermarkConflictError(
            "cannot compare watermarks of different types (the column's type changed: reset the table)",
            left_type=left.type.value,
            right_type=right.type.value,
        )
    a, b = left.parsed, right.parsed
    # Both sides have the same Python type here, guaranteed by the shared WatermarkType.
    if a < b:  # type: ignore[operator]
        return -1
    return 1 if a > b else 0  # type: ignore[operator]


# --- arithmetic on the values of an incremental column ---------------------------------------


def lower_bound(
    value: WatermarkValue, kind: WatermarkType, *, lookback_seconds: int, lookback_integer: int
) -> WatermarkValue:
    """The lowest value the next incremental run reads: the stored watermark minus the lookback
    (whole days for a date, rounded up)."""
    if kind is WatermarkType.INTEGER:
        assert isinstance(value, int)
        return value - lookback_integer
    if kind is WatermarkType.DATE:
        assert isinstance(value, date)
        days = -(-lookback_seconds // 86_400)
        return value - timedelta(days=days)
    assert isinstance(value, datetime)
    return value - timedelta(seconds=lookback_seconds)


def cap_from_transaction_start(xact_start: datetime, kind: WatermarkType) -> WatermarkValue:
    """A transaction's start time as a value of the column: a watermark never passes it."""
    if kind is WatermarkType.DATE:
        return xact_start.astimezone(UTC).date()
    if kind is WatermarkType.TIMESTAMP:
        return xact_start.astimezone(UTC).replace(tzinfo=None)
    return xact_start.astimezone(UTC)


def as_watermark_value(value: Any, kind: WatermarkType) -> WatermarkValue:
    """Bring a value read from the source or given by a person to the column's watermark type."""
    if kind is WatermarkType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("not an integer")
        return value
    if kind is WatermarkType.DATE:
        if isinstance(value, datetime):
            raise TypeError("a timestamp is not a date")
        if not isinstance(value, date):
            raise TypeError("not a date")
        return value
    if isinstance(value, datetime):
        if kind is WatermarkType.TIMESTAMPTZ:
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        as_datetime = datetime(value.year, value.month, value.day)
        return as_datetime.replace(tzinfo=UTC) if kind is WatermarkType.TIMESTAMPTZ else as_datetime
    raise TypeError("not a timestamp")


def at_most(value: Any, cap: Any) -> Any:
    """`value` held at or below `cap` (either may be None: no value, no cap)."""
    if value is None:
        return None
    if cap is None:
        return value
    return min(value, cap)
