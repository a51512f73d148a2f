"""Typed watermark parsing and ordering: strict, canonical and exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from aurora_batch.errors import ConfigError, SourceSchemaError, WatermarkConflictError
from aurora_batch.watermark import (
    Watermark,
    WatermarkType,
    compare_watermarks,
    format_watermark,
    parse_watermark,
    watermark_type_for_pg,
)
from hypothesis import given
from hypothesis import strategies as st

naive_datetimes = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999))
# Away from the ends of the calendar, so that moving to UTC stays within years 1..9999.
inner_datetimes = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("integer", "9007199254740993", 2**53 + 1),
        ("integer", "-42", -42),
        ("integer", "+007", 7),
        ("date", "2024-02-29", date(2024, 2, 29)),
        ("timestamp", "2024-01-01 10:00", datetime(2024, 1, 1, 10, 0)),
        ("timestamp", "2024-01-01T10:00:00.000001", datetime(2024, 1, 1, 10, 0, 0, 1)),
        ("timestamptz", "2024-01-01 10:00:00+02", datetime(2024, 1, 1, 8, 0, tzinfo=UTC)),
        ("timestamptz", "2024-01-01T10:00:00.5Z", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("timestamptz", "2024-01-01 10:00:00-05:30", datetime(2024, 1, 1, 15, 30, tzinfo=UTC)),
    ],
)
def test_parse_accepts_postgres_forms(kind: str, text: str, expected: object) -> None:
    assert parse_watermark(text, kind) == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("integer", "1e5"),
        ("integer", "12.0"),
        ("integer", ""),
        ("date", "20240101"),
        ("date", "2023-02-29"),
        ("date", "infinity"),
        ("date", "2024-01-01 00:00:00"),
        ("timestamp", "2024-01-01"),
        ("timestamp", "2024-01-01T00:00:00.1234567"),  # nanoseconds would be rounded away
        ("timestamp", "2024-01-01T00:00:00Z"),  # an offset on a timestamp without time zone
        ("timestamp", "2024-W01-1T00:00"),
        ("timestamptz", "2024-01-01T00:00:00"),  # no offset: which instant?
        ("timestamptz", "yesterday"),
    ],
)
def test_parse_refuses_values_that_are_not_exact(kind: str, text: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_watermark(text, kind)
    assert refused.value.fields == {"field": "value", "value": text}


def test_unknown_type_is_a_config_error_naming_type() -> None:
    with pytest.raises(ConfigError) as refused:
        Watermark("1", "bigint")
    assert refused.value.fields["field"] == "type"


def test_construction_canonicalises_so_equality_is_exact() -> None:
    assert Watermark("2024-01-01 10:00:00+02", WatermarkType.TIMESTAMPTZ) == Watermark(
        "2024-01-01T08:00:00Z", WatermarkType.TIMESTAMPTZ
    )
    assert Watermark("+0042", WatermarkType.INTEGER).value == "42"
    assert Watermark("2024-01-01 10:00", WatermarkType.TIMESTAMP).value == "2024-01-01T10:00:00"


@pytest.mark.parametrize(
    ("kind", "lower", "higher"),
    [
        ("integer", "9007199254740992", "9007199254740993"),
        ("integer", "9", "10"),
        ("integer", "-10", "-9"),
        ("date", "2023-12-31", "2024-01-01"),
        ("timestamp", "2024-01-01T09:00:00", "2024-01-01 10:00:00"),
        ("timestamp", "2024-01-01 00:00:00.999999", "2024-01-01 00:00:01"),
        ("timestamptz", "2024-01-01T10:00:00+02:00", "2024-01-01T09:00:00.000001+00:00"),
    ],
)
def test_ordering_is_by_value_not_by_string(kind: str, lower: str, higher: str) -> None:
    low, high = Watermark(lower, kind), Watermark(higher, kind)
    assert low < high
    assert high > low
    assert compare_watermarks(low, high) == -1
    assert compare_watermarks(high, low) == 1
    assert compare_watermarks(low, Watermark(lower, kind)) == 0


def test_watermarks_of_different_types_do_not_compare() -> None:
    with pytest.raises(WatermarkConflictError):
        compare_watermarks(Watermark("1", WatermarkType.INTEGER), Watermark("2024-01-01", WatermarkType.DATE))


def test_of_builds_from_driver_values_and_refuses_mismatches() -> None:
    assert Watermark.of(2**63 - 1, "integer").value == "9223372036854775807"
    assert Watermark.of(date(2024, 1, 1), "date").value == "2024-01-01"
    aware = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    assert Watermark.of(aware, "timestamptz").value == "2024-01-01T11:00:00+00:00"
    for value, kind in [
        (True, "integer"),
        (aware, "timestamp"),
        (datetime(2024, 1, 1), "timestamptz"),
        (5, "date"),
    ]:
        with pytest.raises(ConfigError):
            format_watermark(value, kind)


def test_timestamptz_outside_the_calendar_in_utc_is_refused() -> None:
    with pytest.raises(ConfigError):
        Watermark("0001-01-01T00:00:00+14:00", "timestamptz")


def test_pg_type_names_map_to_watermark_types() -> None:
    assert watermark_type_for_pg("int8") is WatermarkType.INTEGER
    assert watermark_type_for_pg("timestamptz") is WatermarkType.TIMESTAMPTZ
    with pytest.raises(SourceSchemaError) as refused:
        watermark_type_for_pg("numeric", table="public.t", column="c")
    assert refused.value.fields == {"table": "public.t", "column": "c", "pg_type": "numeric"}


@given(st.integers(min_value=-(2**80), max_value=2**80), st.integers(min_value=-(2**80), max_value=2**80))
def test_integer_order_matches_python_ints(left: int, right: int) -> None:
    result = compare_watermarks(Watermark(str(left), "integer"), Watermark(str(right), "integer"))
    assert result == (left > right) - (left < right)


@given(naive_datetimes, naive_datetimes)
def test_timestamp_round_trips_and_orders(left: datetime, right: datetime) -> None:
    low, high = Watermark.of(left, "timestamp"), Watermark.of(right, "timestamp")
    assert low.parsed == left
    assert compare_watermarks(low, high) == (left > right) - (left < right)


@given(inner_datetimes, offsets, inner_datetimes, offsets)
def test_timestamptz_orders_by_instant(
    left: datetime, left_zone: timezone, right: datetime, right_zone: timezone
) -> None:
    first, second = left.replace(tzinfo=left_zone), right.replace(tzinfo=right_zone)
    low, high = Watermark.of(first, "timestamptz"), Watermark.of(second, "timestamptz")
    assert low.parsed == first
    assert compare_watermarks(low, high) == (first > second) - (first < second)
