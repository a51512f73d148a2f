"""`aurora-batch status`: the next run of a schedule, each table's lag and what makes it stand out,
and the plain tables every command prints on a pipe."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aurora_batch.errors import ConfigError
from aurora_batch.logic.schedule import next_run, rate_seconds
from aurora_batch.logic.status import table_status, table_statuses
from aurora_batch.ports import TableState
from aurora_batch.terminal.tables import Column, TableView
from aurora_batch.terminal.views import duration, status_view, summary_view
from aurora_batch.watermark import Watermark, WatermarkType

NOW = datetime(2026, 3, 4, 10, 17, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 * * * ? *)", datetime(2026, 3, 4, 11, 0, tzinfo=UTC)),
        ("cron(*/15 * * * ? *)", datetime(2026, 3, 4, 10, 30, tzinfo=UTC)),
        ("cron(0 2 * * ? *)", datetime(2026, 3, 5, 2, 0, tzinfo=UTC)),
        ("cron(30 6 ? * MON-FRI *)", datetime(2026, 3, 5, 6, 30, tzinfo=UTC)),
        ("cron(0 12 ? * 1 *)", datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),  # 1 = Sunday
        ("cron(0 0 1 JAN,JUL ? *)", datetime(2026, 7, 1, 0, 0, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2028)", datetime(2028, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(17 10 4 3 ? *)", datetime(2027, 3, 4, 10, 17, tzinfo=UTC)),  # this minute has begun
    ],
)
def test_next_run_of_a_cron_expression(expression: str, expected: datetime) -> None:
    assert next_run(expression, NOW) == expected


def test_next_run_of_a_rate_counts_from_the_last_run() -> None:
    assert rate_seconds("rate(15 minutes)") == 900
    assert rate_seconds("rate(1 day)") == 86400
    started = NOW - timedelta(minutes=50)
    assert next_run("rate(1 hour)", NOW, started) == started + timedelta(hours=1)
    assert next_run("rate(20 minutes)", NOW, started) == started + timedelta(minutes=60)
    assert next_run("rate(1 hour)", NOW, None) is None


def test_cron_forms_not_read_give_no_next_run_and_bad_ones_are_refused() -> None:
    assert next_run("cron(0 0 L * ? *)", NOW) is None
    assert next_run("cron(0 0 ? * 6#3 *)", NOW) is None
    for bad in ("every hour", "cron(0 0 * *)", "cron(61 * * * ? *)"):
        with pytest.raises(ConfigError):
            next_run(bad, NOW)


def _state(table: str, **fields: Any) -> TableState:
    return dataclasses.replace(TableState.empty(table), **fields)


def test_a_late_a_failed_and_a_locked_table_stand_out() -> None:
    fresh = Watermark((NOW - timedelta(minutes=5)).isoformat(), WatermarkType.TIMESTAMPTZ)
    stale = Watermark((NOW - timedelta(hours=3)).isoformat(), WatermarkType.TIMESTAMPTZ)
    run = {"status": "succeeded", "mode": "incremental", "rows_loaded": 12, "duration_seconds": 1.5}
    states = [
        _state("public.fresh", watermark=fresh, last_run={**run, "finished_at": NOW.isoformat()}),
        _state("public.late", watermark=stale, last_run=run),
        _state("public.broken", watermark=fresh, last_run={**run, "status": "failed"}),
        _state("public.held", lease_owner="r1", lease_token="t", lease_expires_at=NOW.timestamp() + 60),
        _state("public.counted", watermark=Watermark("42", WatermarkType.INTEGER), last_run=run),
    ]

    statuses = {s.table: s for s in table_statuses([("public.fresh", "incremental")], states, NOW)}

    assert next(iter(statuses)) == "public.fresh"  # configured tables first
    assert statuses["public.fresh"].attention == []
    assert statuses["public.fresh"].lag_seconds == 300
    assert statuses["public.late"].attention == ["late"]
    assert statuses["public.broken"].attention == ["failed"]
    assert statuses["public.held"].attention == ["locked"]
    assert statuses["public.held"].lease_owner == "r1"
    assert statuses["public.counted"].lag_seconds is None
    assert statuses["public.late"].to_dict()["attention"] == ["late"]


def test_status_view_marks_rows_in_words_and_with_a_character() -> None:
    stale = Watermark((NOW - timedelta(hours=3)).isoformat(), WatermarkType.TIMESTAMPTZ)
    late = table_status(_state("public.late", watermark=stale), NOW, schedule="rate(1 hour)")
    fine = table_status(_state("public.never"), NOW, schedule="cron(0 * * * ? *)")

    header, rule, late_line, fine_line = status_view([late, fine], NOW).lines()

    assert header.split()[:3] == ["!", "table", "mode"]
    assert set(rule) == {"-"}
    assert late_line.startswith("! public.late") and late_line.endswith("late")
    assert "3h 00m" in late_line
    assert fine_line.startswith("  public.never") and "never" in fine_line
    assert "2026-03-04 11:00:00Z (in 42m 30s)" in fine_line


def test_plain_tables_align_numbers_right_and_fill_empty_cells() -> None:
    view = TableView([Column("name"), Column("rows", right=True)])
    view.add(["a", "5"])
    view.add(["long name", None])
    assert view.lines() == ["name      rows", "--------------", "a            5", "long name    -"]
    summary = summary_view([{"table": "public.t", "status": "failed", "rows_loaded": 1000, "duration_seconds": 2}])
    assert summary.lines()[2].split() == ["public.t", "failed", "1,000", "0.0", "2.00", "500"]
    assert summary.attention == [["failed"]]
    assert [duration(s) for s in (5, 303, 7440, 90000)] == ["5s", "5m 03s", "2h 04m", "1d 01h"]
