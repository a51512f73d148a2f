"""Plain-text tables: aligned columns under a header and a rule, one line per row.

The same lines go to a pipe and to a terminal; on a terminal (with rich installed) the header is
bold and a row that needs attention is coloured. Such a row also carries a marker character and
the reason in words, so it stands out without colour too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

ATTENTION_MARK = "!"
_ROW_STYLES = {"failed": "bold red", "locked": "bold magenta", "late": "bold yellow", "drift": "bold yellow"}


@dataclass(frozen=True)
class Column:
    name: str
    right: bool = False  # numbers align right


@dataclass
class TableView:
    columns: Sequence[Column]
    rows: list[list[str]] = field(default_factory=list)
    attention: list[list[str]] = field(default_factory=list)  # per row: failed, locked, late
    title: str | None = None

    def add(self, cells: Sequence[object], attention: Sequence[str] = ()) -> None:
        self.rows.append(["-" if cell is None or cell == "" else str(cell) for cell in cells])
        self.attention.append(list(attention))

    def lines(self) -> list[str]:
        widths = [
            max([len(column.name), *(len(row[index]) for row in self.rows)])
            for index, column in enumerate(self.columns)
        ]

        def line(cells: Sequence[str]) -> str:
            aligned = (
                cell.rjust(width) if column.right else cell.ljust(width)
                for cell, width, column in zip(cells, widths, self.columns, strict=True)
            )
            return " ".join(aligned).rstrip()

        header = line([column.name for column in self.columns])
        body = [line(row) for row in self.rows]
        return [header, "-" * max([len(header), *(len(row) for row in body)]), *body]


def print_tables(views: Sequence[TableView], stream: TextIO | None = None, *, styled: bool | None = None) -> None:
    """Print the tables, styled when the stream is a terminal and rich is installed."""
    out = stream or sys.stdout
    if styled is None:
        styled = out.isatty()
    console = _console(out) if styled else None
    for number, view in enumerate(views):
        if number:
            out.write("\n")
        if view.title:
            _write(out, console, view.title, "bold")
        header, rule, *body = view.lines()
        _write(out, console, header, "bold")
        _write(out, console, rule, None)
        for text, reasons in zip(body, view.attention, strict=True):
            _write(out, console, text, _ROW_STYLES.get(reasons[0]) if reasons else None)
    out.flush()


def _console(stream: TextIO) -> object | None:
    try:
        from rich.console import Console
    except ModuleNotFoundError:  # the CLI extra is not installed: plain lines then
        return None
    return Console(file=stream, highlight=False, soft_wrap=True)


def _write(stream: TextIO, console: object | None, text: str, style: str | None) -> None:
    if console is None:
        stream.write(text + "\n")
        return
    from rich.console import Console
    from rich.text import Text

    assert isinstance(console, Console)
    console.print(Text(text, style=style or ""))
