"""`make bench-cli`: the product end to end through its CLI, with the time of every phase.

Against its own local stack (PostgreSQL 15, moto, OpenBao, the Snowflake emulator), on the bench
table: a full refresh, a first incremental run (no watermark yet, so every row), then an incremental
run after new rows arrived. Each run is `aurora-batch replicate --table … --json` in a process of its
own, as an operator would start it; the report's `phases` give the time of each phase. The
emulator is DuckDB on the same 2 cores, so the load phases say how the product drives a target,
not how fast Snowflake is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from aurora_batch.model import TableRef
from aurora_batch_dev import LocalStack

from bench import dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = REPO_ROOT / ".venv" / "bin" / "aurora-batch"
TABLE = TableRef("bench", "cli_phases")
INCREMENTAL_COLUMN = "created_at"  # NOT NULL and growing with the id: new rows are newer
RUN_TIMEOUT_SECONDS = 3600


def _replicate(env: dict[str, str], table: TableRef, *extra: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    completed = subprocess.run(
        [str(CLI), "replicate", "--table", table.qualified, "--json", *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    wall = time.monotonic() - started
    if completed.returncode != 0:
        raise BenchCliError(f"replicate {' '.join(extra)} exited {completed.returncode}: {completed.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(completed.stdout)
    return report, wall


class BenchCliError(RuntimeError):
    """A run of the CLI failed: the benchmark measured nothing."""


Run = tuple[str, dict[str, Any], float]


def measure(stack: LocalStack, table: TableRef, rows: int, new_rows: int, progress: Any) -> list[Run]:
    """The three runs on a fresh table of `rows` rows in the stack's PostgreSQL."""
    with closing(stack.pg_connect()) as connection:
        dataset.create_table(connection, table)
        dataset.add_rows(connection, table, 1, rows)
        dataset.vacuum_analyze(connection, table)
    tables: dict[str, dict[str, Any]] = {table.qualified: {}}  # into the Snowflake secret's schema
    env = {**os.environ, **stack.env(), "TABLES": json.dumps(tables)}
    runs: list[Run] = []
    progress.write(f"full refresh of {rows:,} rows...\n")
    runs.append(("full refresh", *_replicate(env, table, "--full-refresh")))
    incremental = ("--mode", "incremental", "--incremental-column", INCREMENTAL_COLUMN)
    progress.write("first incremental run (no watermark yet)...\n")
    runs.append(("first incremental", *_replicate(env, table, *incremental)))
    with closing(stack.pg_connect()) as connection:
        dataset.add_rows(connection, table, rows + 1, new_rows)
    progress.write(f"incremental run after {new_rows:,} new rows...\n")
    runs.append((f"incremental, {new_rows:,} new rows", *_replicate(env, table, *incremental)))
    return runs


def render(rows: int, runs: Sequence[tuple[str, dict[str, Any], float]]) -> str:
    phases: list[str] = []
    for _, report, _ in runs:
        phases += [name for name in report.get("phases", {}) if name not in phases]
    header = ["run", "status", "rows loaded", "wall s", *phases]
    lines = [
        f"# `make bench-cli`: {rows:,}-row bench table through `aurora-batch replicate`",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for label, report, wall in runs:
        seconds = report.get("phases", {})
        cells = [label, str(report["status"]), f"{int(report.get('rows_loaded') or 0):,}", f"{wall:.2f}"]
        cells += [f"{float(seconds[name]):.2f}" if name in seconds else "-" for name in phases]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Phase times are the run report's `phases` (seconds); wall is the CLI process, start to exit."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_phases", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--new-rows", type=int, default=20_000)
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results" / "cli.md")
    args = parser.parse_args(argv)
    sys.stderr.write("Starting the local stack (PostgreSQL 15, moto, OpenBao, Snowflake emulator)...\n")
    try:
        with LocalStack() as stack:
            text = render(args.rows, measure(stack, TABLE, args.rows, args.new_rows, sys.stderr))
    except BenchCliError as exc:
        sys.stderr.write(f"bench-cli: {exc}\n")
        return 2
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
