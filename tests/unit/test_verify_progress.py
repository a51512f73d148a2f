"""The verify command's terminal display: one bar per level of the descent, with its counts."""

from __future__ import annotations

import io

from aurora_batch.logic.verify.compare import Level
from aurora_batch.terminal.verify_progress import VerifyDisplay
from aurora_batch.terminal.verify_view import LevelLines


def test_each_level_gets_its_own_bar_with_the_buckets_that_differ() -> None:
    stream = io.StringIO()
    with VerifyDisplay(stream, "public.orders") as display:
        display.level_started(4096)
        display.level(Level(modulus=4096, buckets=4096, differing=12))
        display.level_started(4096 * 64)
        display.level(Level(modulus=4096 * 64, buckets=768, differing=12))

    text = stream.getvalue()
    assert "public.orders level 1 (mod 4,096)" in text
    assert "12/4,096 buckets differ" in text
    assert "public.orders level 2 (mod 262,144)" in text
    assert "12/768 buckets differ" in text


def test_without_rich_each_level_is_one_plain_line() -> None:
    stream = io.StringIO()
    lines = LevelLines(stream)
    lines.level_started(4096)
    lines.level(Level(modulus=4096, buckets=4096, differing=0))
    assert stream.getvalue().splitlines() == [f"level 1 [{'.' * 30}] 0/4096 buckets differ (mod 4096)"]
