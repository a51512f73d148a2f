"""What the `aurora-batch` command prints: JSON, tables, and the live display while it works.

The terminal package is imported only when there is something to draw: `--json` never needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any


def verify_display(args: argparse.Namespace, table: str) -> contextlib.AbstractContextManager[Any]:
    """One bar per level of the descent when stdout is a terminal: rich's, or plain lines without
    the cli extra; nothing on a pipe or with --json."""

    def rich_display() -> contextlib.AbstractContextManager[Any]:
        from aurora_batch.terminal.verify_progress import VerifyDisplay

        return VerifyDisplay(sys.stdout, table)

    def plain_lines() -> contextlib.AbstractContextManager[Any]:
        from aurora_batch.terminal.verify_view import LevelLines

        return contextlib.nullcontext(LevelLines(sys.stdout))

    return _terminal_display(args, rich_display, plain_lines)


def progress_display(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """One bar per table when stdout is a terminal (and rich is installed); nothing otherwise."""

    def rich_display() -> contextlib.AbstractContextManager[Any]:
        from aurora_batch.terminal.progress import ReplicateDisplay

        return ReplicateDisplay(sys.stdout)

    return _terminal_display(args, rich_display, lambda: contextlib.nullcontext(None))


def _terminal_display(
    args: argparse.Namespace,
    rich_display: Callable[[], contextlib.AbstractContextManager[Any]],
    without_rich: Callable[[], contextlib.AbstractContextManager[Any]],
) -> contextlib.AbstractContextManager[Any]:
    """rich's display on a terminal; `without_rich` when the cli extra is not installed (the
    displays import rich when built, so building them is inside the try)."""
    if args.json or not sys.stdout.isatty():
        return contextlib.nullcontext(None)
    try:
        return rich_display()
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("rich"):
            raise
        return without_rich()


def print_tables(views: Sequence[Any]) -> None:
    from aurora_batch.terminal import tables

    tables.print_tables(views, sys.stdout)


def print_json(result: Any) -> None:
    print(json.dumps(result, default=str, indent=2))


def watermark_views(result: dict[str, Any]) -> list[Any]:
    from aurora_batch.terminal.views import change_view, watermark_get_views, watermark_list_view

    now = datetime.now(UTC)
    if result["action"] == "list":
        return [watermark_list_view(result, now)]
    if result["action"] == "get":
        return watermark_get_views(result, now)
    return [change_view(result)]
