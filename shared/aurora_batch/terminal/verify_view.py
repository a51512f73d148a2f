"""The verify command's summary table and its per-level progress lines."""

from __future__ import annotations

from typing import Any, TextIO

from aurora_batch.terminal.tables import Column, TableView


def verify_view(report: dict[str, Any]) -> TableView:
    view = TableView(
        [
            Column("table"),
            Column("status"),
            Column("source rows", right=True),
            Column("missing", right=True),
            Column("deleted", right=True),
            Column("changed", right=True),
            Column("pending", right=True),
            Column("repaired", right=True),
            Column("remaining", right=True),
            Column("seconds", right=True),
        ],
        title="verify",
    )
    status = report["status"]
    view.add(
        [
            report["table"],
            status,
            report.get("source_rows"),
            report.get("missing"),
            report.get("deleted"),
            report.get("changed"),
            report.get("pending"),
            (report.get("repaired_merged") or 0) + (report.get("repaired_deleted") or 0)
            if report.get("repair")
            else None,
            report.get("remaining"),
            report.get("duration_seconds"),
        ],
        attention=[status] if status in ("failed", "locked") else [],
    )
    return view


class LevelLines:
    """One line per level of the descent: its buckets and how many differ."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._number = 0

    def level_started(self, modulus: int) -> None:
        return None

    def level(self, level: Any) -> None:
        self._number += 1
        bar_width = 30
        filled = bar_width if not level.buckets else round(bar_width * level.differing / level.buckets)
        bar = "#" * filled + "." * (bar_width - filled)
        self._stream.write(
            f"level {self._number} [{bar}] {level.differing}/{level.buckets} buckets differ (mod {level.modulus})\n"
        )
        self._stream.flush()
