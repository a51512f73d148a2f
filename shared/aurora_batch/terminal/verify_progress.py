"""The verify command's live display on a terminal: one bar per level of the descent.

A level's bar pulses while its bucket digests are read on both sides, then fills to the share of
buckets that differ, with the counts beside it. Drawn with rich, imported here only: this module is
loaded only when stderr is a terminal and the report is not --json.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import TaskID


class VerifyDisplay:
    """The live display of one `verify` command (logic.verify.report.VerifyProgress)."""

    def __init__(self, stream: TextIO, table: str) -> None:
        # rich is the CLI extra's: imported when drawing, so the module imports anywhere.
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self._table = table
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[counts]}"),
            console=Console(file=stream),
            refresh_per_second=4,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task: TaskID | None = None
        self._number = 0

    def __enter__(self) -> VerifyDisplay:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.refresh()
        self._progress.stop()

    def level_started(self, modulus: int) -> None:
        self._number += 1
        self._task = self._progress.add_task(
            f"{self._table} level {self._number} (mod {modulus:,})", total=None, counts="reading digests"
        )

    def level(self, level: Any) -> None:
        if self._task is None:
            self.level_started(level.modulus)
        assert self._task is not None
        buckets = max(int(level.buckets), 1)
        self._progress.update(
            self._task,
            total=buckets,
            completed=int(level.differing),
            counts=f"{level.differing:,}/{level.buckets:,} buckets differ",
        )
        self._progress.refresh()
        self._task = None
