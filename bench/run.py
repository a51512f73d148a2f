"""`make bench`: measure the extraction engine against raw COPY and a naive cursor baseline.

Starts the local stack, builds the 10-column table at --rows rows, runs every path (each in a
process of its own, round-robin, --repeat times), grows the table to --large-rows and runs the
engine again, then prints a Markdown report with PASS/FAIL per issue-3 target and writes it to
bench/results/latest.md. Exits 1 when a target fails, 2 when the benchmark itself fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from aurora_batch.errors import AuroraBatchError
from aurora_batch.model import TableRef
from aurora_batch_dev import LocalStack
from aurora_batch_dev.services import AWS_REGION, AWS_TEST_KEY

from bench import dataset
from bench.job import Job, PathResult, PgEndpoint, S3Endpoint
from bench.paths import REPO_ROOT, run_in_child
from bench.report import render
from bench.results import (
    ENGINE_LOCAL,
    ENGINE_S3,
    ENGINE_TWO_STREAMS,
    FLOOR,
    MB,
    NAIVE,
    PATH_LABELS,
    BenchConfig,
    BenchReport,
    Machine,
    Scale,
    TargetCheck,
)
from bench.verify import run_verify_section

# What the tests and bench/peers.py import from here, wherever it is defined.
__all__ = [
    "ENGINE_LOCAL",
    "ENGINE_TWO_STREAMS",
    "FLOOR",
    "LARGE_PATHS",
    "PATH_LABELS",
    "BenchConfig",
    "BenchReport",
    "Machine",
    "Runner",
    "Scale",
    "TargetCheck",
    "main",
    "prepare_scale",
    "render",
    "run_bench",
]

RESULTS_PATH = REPO_ROOT / "bench" / "results" / "latest.md"
MAIN_PATHS = (FLOOR, "copy-binary", ENGINE_LOCAL, ENGINE_TWO_STREAMS, ENGINE_S3)  # repeated, round-robin
LARGE_PATHS = (FLOOR, ENGINE_LOCAL, ENGINE_TWO_STREAMS)


class Runner:
    """Builds each path's job against the stack and runs it in a child process."""

    def __init__(self, stack: LocalStack, config: BenchConfig, progress: TextIO) -> None:
        self._stack = stack
        self._config = config
        self._progress = progress
        self._runs = 0
        pg = stack.pg
        self._pg = PgEndpoint(pg.host, pg.port, pg.database, pg.user, pg.password, _postmaster_pid(stack))
        self._s3 = S3Endpoint(
            url=stack.moto_endpoint,
            bucket=stack.staging_bucket,
            prefix=stack.staging_prefix,
            access_key=AWS_TEST_KEY,
            region=AWS_REGION,
        )

    def job(self, path: str, *, keep_output: bool = False) -> Job:
        self._runs += 1
        run_id = f"bench-{self._runs:03d}-{path}"
        return Job(
            path=path,
            pg=self._pg,
            schema=self._config.table.schema,
            table=self._config.table.table,
            run_id=run_id,
            out_dir=str(self._stack.root_dir / "bench-parts" / run_id),
            s3=self._s3,
            keep_output=keep_output,
            batch_bytes=self._config.batch_bytes,
            row_group_rows=self._config.row_group_rows,
        )

    def run(self, path: str, label: str) -> PathResult:
        result = run_in_child(self.job(path))
        self._progress.write(
            f"  {label:<28} {path:<12} {result.wall_seconds:7.2f} s  {result.rows:>10,} rows  "
            f"{result.peak_rss_mb:6.0f} MB peak RSS\n"
        )
        self._progress.flush()
        return result

    def rounds(self, scale: Scale, paths: Sequence[str], repeat: int) -> None:
        """Run the paths round-robin, so drift in the machine's speed hits them all alike."""
        for round_number in range(1, repeat + 1):
            for path in paths:
                scale.add(self.run(path, f"{scale.rows:,} rows, run {round_number}/{repeat}"))

    def warm_up(self) -> None:
        """One discarded floor run, so the first measured run does not pay for a cold page cache."""
        self.run(FLOOR, "warm-up (discarded)")


def _postmaster_pid(stack: LocalStack) -> int | None:
    """The first line of postmaster.pid: the server's CPU time is read from its processes."""
    try:
        return int((stack.root_dir / "pg" / "data" / "postmaster.pid").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def prepare_scale(stack: LocalStack, table: TableRef, have_rows: int, want_rows: int, progress: TextIO) -> Scale:
    """Grow the table from have_rows to want_rows rows, VACUUM ANALYZE it, and describe it."""
    started = time.monotonic()
    with closing(stack.pg_connect()) as connection:
        if have_rows == 0:
            dataset.create_table(connection, table)
        dataset.add_rows(connection, table, have_rows + 1, want_rows - have_rows)
        dataset.vacuum_analyze(connection, table)
        rows, disk_bytes = dataset.table_facts(connection, table)
    progress.write(
        f"{table.qualified}: {rows:,} rows, {disk_bytes / MB:,.0f} MB on disk "
        f"(generated in {time.monotonic() - started:.1f} s)\n"
    )
    return Scale(rows=rows, disk_bytes=disk_bytes)


def run_bench(stack: LocalStack, config: BenchConfig, progress: TextIO) -> BenchReport:
    """Every measurement of one benchmark, against a started stack."""
    started = time.monotonic()
    with closing(stack.pg_connect()) as connection:
        postgres_version = dataset.server_version(connection)
    report = BenchReport(config, Machine.describe(postgres_version), datetime.now(UTC), os.getloadavg())
    runner = Runner(stack, config, progress)

    main = prepare_scale(stack, config.table, 0, config.rows, progress)
    runner.warm_up()
    runner.rounds(main, MAIN_PATHS, config.repeat)
    runner.rounds(main, (NAIVE,), config.naive_repeat)
    report.scales.append(main)
    if config.verify:
        report.verify = run_verify_section(stack, config.table, main.rows, progress)

    if config.large_rows > config.rows:
        large = prepare_scale(stack, config.table, config.rows, config.large_rows, progress)
        runner.warm_up()
        runner.rounds(large, LARGE_PATHS, config.repeat)
        report.scales.append(large)
    report.load_after = os.getloadavg()
    report.elapsed_seconds = time.monotonic() - started
    return report


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=defaults.rows, help="rows of the main run")
    parser.add_argument("--large-rows", type=int, default=defaults.large_rows, help="rows of the memory-flatness run")
    parser.add_argument("--repeat", type=int, default=defaults.repeat, help="runs per path (fastest counts)")
    parser.add_argument("--naive-repeat", type=int, default=defaults.naive_repeat, help="runs of naive")
    parser.add_argument("--batch-bytes", type=int, help="what-if: EXTRACT_BATCH_BYTES")
    parser.add_argument("--row-group-rows", type=int, help="what-if: Parquet row group rows")
    parser.add_argument("--no-verify", action="store_true", help="skip the verify section")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="where the Markdown report goes")
    args = parser.parse_args(list(argv))
    if min(args.rows, args.repeat, args.naive_repeat) < 1:
        parser.error("--rows, --repeat and --naive-repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    out = out or sys.stdout
    config = BenchConfig(
        rows=args.rows,
        large_rows=args.large_rows,
        repeat=args.repeat,
        naive_repeat=args.naive_repeat,
        batch_bytes=args.batch_bytes,
        row_group_rows=args.row_group_rows,
        verify=not args.no_verify,
    )
    command = f"`{' '.join(['.venv/bin/python -m bench.run', *arguments])}`"
    if not arguments:
        command = f"`make bench` (that is, {command})"
    progress = sys.stderr
    progress.write("Starting the local stack (PostgreSQL 15, moto, OpenBao, Snowflake emulator)...\n")
    try:
        with LocalStack() as stack:
            report = run_bench(stack, config, progress)
    except AuroraBatchError as exc:
        progress.write(f"bench: {exc}\n")
        return 2
    text = render(report, command)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    out.write(text)
    out.write(f"\n(written to {args.results})\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
