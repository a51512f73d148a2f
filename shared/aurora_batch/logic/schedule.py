"""The next run of an EventBridge schedule expression: `rate(...)` or `cron(...)`, in UTC.

cron takes six fields (minutes hours day-of-month month day-of-week year) with `*`, `?`, lists,
ranges and `/` increments, and month and weekday names; day-of-week counts 1 = SUN to 7 = SAT.
The `L`, `W` and `#` forms are not read: their next run is unknown (None), never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aurora_batch.errors import ConfigError

_RATE = re.compile(r"^rate\(\s*(?P<value>\d+)\s+(?P<unit>minutes?|hours?|days?)\s*\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^)]*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_WEEKDAYS = {name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
# How far ahead to look for a cron match (the year field can push it years out).
_SEARCH_DAYS = 366 * 5


@dataclass(frozen=True)
class _Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: `?` or `*`, any day of the month
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 = Sunday; None: any
    years: frozenset[int] | None


def rate_seconds(expression: str) -> int | None:
    """The interval of a rate() expression in seconds, or None for a cron() expression."""
    found = _RATE.match(expression.strip())
    if found is None:
        return None
    return int(found["value"]) * _UNIT_SECONDS[found["unit"].rstrip("s")]


def next_run(expression: str, now: datetime, last_started: datetime | None = None) -> datetime | None:
    """The first run at or after `now`. A rate() counts from the last run's start (EventBridge
    counts from the rule's creation, which the state does not know): None without one."""
    text = expression.strip()
    interval = rate_seconds(text)
    if interval is not None:
        if last_started is None:
            return None
        elapsed = max((now - last_started).total_seconds(), 0.0)
        periods = -(-elapsed // interval)  # ceiling
        return last_started + timedelta(seconds=periods * interval)
    found = _CRON.match(text)
    if found is None:
        raise ConfigError(f"a schedule must be rate(...) or cron(...), not {expression!r}", field="schedule")
    cron = _parse_cron(found["fields"], expression)
    return None if cron is None else _next_cron(cron, now.astimezone(UTC))


def _parse_cron(fields_text: str, expression: str) -> _Cron | None:
    fields = fields_text.split()
    if len(fields) != 6:
        raise ConfigError(f"cron() takes six fields, not {len(fields)}: {expression!r}", field="schedule")
    if not all(_plain(field) for field in fields):
        return None
    minutes, hours, days, months, weekdays, years = fields
    try:
        return _Cron(
            minutes=_values(minutes, 0, 59, {}),
            hours=_values(hours, 0, 23, {}),
            days=None if days in ("?", "*") else _values(days, 1, 31, {}),
            months=_values(months, 1, 12, _MONTHS),
            weekdays=None if weekdays in ("?", "*") else _values(weekdays, 1, 7, _WEEKDAYS),
            years=None if years in ("?", "*") else _values(years, 1970, 2199, {}),
        )
    except ValueError as exc:
        raise ConfigError(f"cannot read the cron expression {expression!r}: {exc}", field="schedule") from exc


def _plain(field: str) -> bool:
    """No L, W or # form (a month or weekday name may hold those letters)."""
    words = re.sub(r"[A-Za-z]{3}", lambda m: "" if m[0].upper() in {**_MONTHS, **_WEEKDAYS} else m[0], field)
    return not re.search(r"[LW#]", words, re.IGNORECASE)


def _values(field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    chosen: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"a step must be at least 1: {part!r}")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            start, end = span.split("-", 1)
            first, last = _number(start, names), _number(end, names)
        else:
            first = _number(span, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high and first <= last):
            raise ValueError(f"{part!r} is outside {low}-{high}")
        chosen.update(range(first, last + 1, step))
    return frozenset(chosen)


def _number(text: str, names: dict[str, int]) -> int:
    return names[text.upper()] if text.upper() in names else int(text)


def _next_cron(cron: _Cron, now: datetime) -> datetime | None:
    start = now.replace(second=0, microsecond=0)
    if start < now:
        start += timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(_SEARCH_DAYS):
        if _day_matches(cron, day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    return None


def _day_matches(cron: _Cron, day: datetime) -> bool:
    if day.month not in cron.months or (cron.years is not None and day.year not in cron.years):
        return False
    weekday = day.isoweekday() % 7 + 1  # Monday 1 -> 2, Sunday 7 -> 1
    if cron.days is not None and day.day not in cron.days:
        return False
    return cron.weekdays is None or weekday in cron.weekdays
