"""Without the cli extra (rich), a terminal still gets what it can: plain lines for verify,
nothing for replicate. The displays import rich when they are built, not when imported."""

from __future__ import annotations

import argparse
import contextlib
import sys

import pytest
from aurora_batch.cli_output import progress_display, verify_display
from aurora_batch.terminal.verify_view import LevelLines


@pytest.fixture
def terminal_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    for name in [name for name in sys.modules if name == "rich" or name.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("rich", "rich.console", "rich.progress"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it raises ModuleNotFoundError


@pytest.mark.usefixtures("terminal_without_rich")
def test_verify_falls_back_to_plain_lines() -> None:
    display = verify_display(argparse.Namespace(json=False), "public.orders")

    with display as shown:
        assert isinstance(shown, LevelLines)


@pytest.mark.usefixtures("terminal_without_rich")
def test_replicate_draws_nothing() -> None:
    display = progress_display(argparse.Namespace(json=False))

    assert isinstance(display, contextlib.nullcontext)
    with display as shown:
        assert shown is None


def test_with_json_nothing_is_drawn_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    with verify_display(argparse.Namespace(json=True), "public.orders") as shown:
        assert shown is None
