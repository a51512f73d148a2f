"""The replicate progress display on a terminal: one bar per table (percent, rows, MB, rate and
ETA against the planner's estimate), then one line per phase with its time.

Drawn with rich, imported here only: this module is loaded only when stdout is a terminal.
Past the estimate the bar turns into a spinner and the percent and ETA disappear: an estimate is
never shown as more than 100%.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, Task, TaskID

REDRAW_SECONDS = 0.1
# The lines each phase prints as it ends (nested ones too: validate inside swap), dim beside the bars.
_PHASE_LINE_STYLE = "dim"


def _estimate(task: Task) -> int | None:
    """The estimate while the count is within it; None once passed (or when there is none)."""
    estimate = task.fields.get("estimate")
    rows = int(task.fields.get("rows", 0))
    return int(estimate) if estimate is not None and rows <= estimate and estimate > 0 else None


def _rate(task: Task) -> float:
    started = task.fields.get("extract_started")
    if started is None:
        return 0.0
    ended = float(task.fields.get("extract_ended") or time.monotonic())
    return float(task.fields.get("rows", 0)) / max(ended - float(started), 1e-6)


def _columns() -> list[ProgressColumn]:
    """The bar's columns. rich is the CLI extra's: imported when drawing, so this module imports
    anywhere (a Lambda package carries it without rich)."""
    from rich.console import RenderableType
    from rich.progress import ProgressColumn
    from rich.progress_bar import ProgressBar
    from rich.spinner import Spinner
    from rich.text import Text

    class _NameColumn(ProgressColumn):
        def render(self, task: Task) -> RenderableType:
            return Text(f"{task.description} {task.fields.get('phase', 'start'):<8}", no_wrap=True)

    class _SpinnerColumn(ProgressColumn):
        """Turns while the count has no estimate to measure against (or has passed it)."""

        def __init__(self) -> None:
            super().__init__()
            self._spinner = Spinner("line")

        def render(self, task: Task) -> RenderableType:
            if _estimate(task) is not None or task.fields.get("done"):
                return Text(" ")
            return self._spinner.render(time.monotonic())

    class _BarColumn(ProgressColumn):
        """A bar against the estimate; a pulse without one, or past it."""

        def render(self, task: Task) -> RenderableType:
            estimate = _estimate(task)
            if estimate is None:
                return ProgressBar(total=None, pulse=not task.fields.get("done"), width=30)
            return ProgressBar(total=estimate, completed=int(task.fields.get("rows", 0)), width=30)

    class _NumbersColumn(ProgressColumn):
        def render(self, task: Task) -> RenderableType:
            rows = int(task.fields.get("rows", 0))
            megabytes = int(task.fields.get("staged_bytes", 0)) / 1e6
            rate = _rate(task)
            estimate = _estimate(task)
            raw_estimate = task.fields.get("estimate")
            if estimate is not None:
                percent = f"{100 * rows / estimate:>3.0f}%"
                eta_seconds = (estimate - rows) / rate if rate > 0 else None
                eta = "-:--:--" if eta_seconds is None else time.strftime("%H:%M:%S", time.gmtime(eta_seconds))
                counted = f"{rows:,}/{estimate:,} rows"
            else:
                percent, eta = "   -", "-"
                past = raw_estimate is not None and rows > raw_estimate
                counted = f"{rows:,} rows" + (f" (past the estimate of {raw_estimate:,})" if past else "")
            return Text(f"{percent} {counted} {megabytes:.1f} MB {rate:,.0f} rows/s ETA {eta}", no_wrap=True)

    return [_NameColumn(), _SpinnerColumn(), _BarColumn(), _NumbersColumn()]


class ReplicateDisplay:
    """The live display of one `replicate` command; `table()` gives each table's listener."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.console = Console(file=stream)
        self._progress: Progress = Progress(
            *_columns(),
            console=self.console,
            refresh_per_second=4,  # keeps the spinner turning through a long COPY or MERGE
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._drawn = 0.0

    def __enter__(self) -> ReplicateDisplay:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.refresh()
        self._progress.stop()

    def table(self, name: str) -> TableProgress:
        task = self._progress.add_task(name, total=None, phase="start", rows=0, staged_bytes=0, estimate=None)
        return TableProgress(self, task, name)

    def update(self, task: TaskID, *, force: bool = False, **fields: Any) -> None:
        """Set the fields; redraw now when forced (a phase, the estimate), else at most every 0.1 s."""
        self._progress.update(task, **fields)
        now = time.monotonic()
        if force or now - self._drawn >= REDRAW_SECONDS:
            self._drawn = now
            self._progress.refresh()

    def line(self, text: str) -> None:
        """A line above the bars, kept when they are redrawn."""
        from rich.text import Text

        self._progress.console.print(Text(text, style=_PHASE_LINE_STYLE), highlight=False)


class TableProgress:
    """One table's listener (aurora_batch.logic.replicate.Progress) drawing into the display."""

    def __init__(self, display: ReplicateDisplay, task: TaskID, name: str) -> None:
        self._display, self._task, self._name = display, task, name

    def phase(self, name: str) -> None:
        fields: dict[str, Any] = {"phase": name}
        if name == "extract":
            fields["extract_started"] = time.monotonic()
        self._display.update(self._task, force=True, **fields)

    def phase_finished(self, name: str, seconds: float) -> None:
        fields: dict[str, Any] = {}
        if name == "extract":
            fields["extract_ended"] = time.monotonic()
        self._display.update(self._task, force=True, **fields)
        self._display.line(f"{self._name} {name:<9} {seconds:>8.2f}s")

    def estimate(self, rows: int | None) -> None:
        self._display.update(self._task, force=True, estimate=rows)

    def rows(self, rows: int, staged_bytes: int) -> None:
        self._display.update(self._task, rows=rows, staged_bytes=staged_bytes)

    def finish(self, status: str) -> None:
        self._display.update(self._task, force=True, phase=status, done=True)
