"""`make bench`: measure the extraction engine against raw COPY and a naive cursor baseline.

Starts the local stack, builds the 10-column table at --rows rows, runs every path (each in a
process of its own, round-robin, --repeat times), grows the table to --large-rows and runs the
engine again, then prints a Markdown report with PASS/FAIL per issue-3 target and writes it to
bench/results/latest.md. Exits 1 when a target fails, 2 when the benchmark itself fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TextIO

from aurora_batch.devstack import LocalStack
from aurora_batch.devstack.services import AWS_REGION, AWS_TEST_KEY
from aurora_batch.errors import AuroraBatchError
from aurora_batch.logic.stage import DEFAULT_PART_TARGET_BYTES, DEFAULT_ROW_GROUP_ROWS
from aurora_batch.model import TableRef

from bench import dataset
from bench.paths import REPO_ROOT, Job, PathResult, PgEndpoint, S3Endpoint, default_extract_batch_bytes, run_in_child

BENCH_TABLE = TableRef("bench", "mixed10")
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "latest.md"
FLOOR = "copy-csv"
ENGINE_LOCAL = "engine-local"
ENGINE_S3 = "engine-s3"
NAIVE = "naive"
MAIN_PATHS = (FLOOR, "copy-binary", ENGINE_LOCAL, ENGINE_S3)  # repeated, round-robin
LARGE_PATHS = (FLOOR, ENGINE_LOCAL)
ENGINE_PATHS = (ENGINE_LOCAL, ENGINE_S3)
PATH_LABELS = {
    FLOOR: "raw `COPY … TO STDOUT (FORMAT csv)` → /dev/null (the floor)",
    "copy-binary": "raw `COPY … TO STDOUT (FORMAT binary)` → /dev/null",
    ENGINE_LOCAL: "engine: PostgreSQL → zstd Parquet parts, local files",
    ENGINE_S3: "engine: PostgreSQL → zstd Parquet parts, moto S3 multipart upload",
    NAIVE: "naive: server-side cursor, `fetchmany(10000)`, Python `csv` → /dev/null",
}

# Issue 3's targets.
MAX_WALL_RATIO_TO_FLOOR = 1.3
MAX_PEAK_RSS_MB = 300.0
MIN_SPEEDUP_OVER_NAIVE = 8.0

MB = 1e6
MIB = 1 << 20


@dataclass(frozen=True)
class BenchConfig:
    rows: int = 2_000_000
    large_rows: int = 4_000_000  # not above rows: no memory-flatness run
    repeat: int = 3
    naive_repeat: int = 1
    table: TableRef = BENCH_TABLE
    batch_bytes: int | None = None  # None: the product's default (EXTRACT_BATCH_BYTES)
    row_group_rows: int | None = None  # None: the product's default


@dataclass
class Scale:
    """Every measured run at one table size."""

    rows: int
    disk_bytes: int
    results: dict[str, list[PathResult]] = field(default_factory=dict)

    def add(self, result: PathResult) -> None:
        self.results.setdefault(result.path, []).append(result)

    def wall(self, path: str) -> float:
        """The fastest run: other load on the machine only ever adds time."""
        return min(r.wall_seconds for r in self.results[path])

    def cpu(self, path: str) -> float:
        return min(r.cpu_seconds for r in self.results[path])

    def start_rss_mb(self, path: str) -> float:
        return max(r.start_rss_mb for r in self.results[path])

    def peak_rss_mb(self, path: str) -> float:
        """The largest run: memory is the worst case, not the best."""
        return max(r.peak_rss_mb for r in self.results[path])

    def ratio_to_floor(self, path: str) -> float:
        return self.wall(path) / self.wall(FLOOR)

    @property
    def csv_bytes(self) -> int:
        """Size of the table as `COPY … (FORMAT csv)` text: the MB/s numerator of every path."""
        return self.results[FLOOR][0].output_bytes

    def wrong_row_counts(self) -> list[str]:
        runs = (r for results in self.results.values() for r in results)
        return [f"{r.path}: {r.rows:,}" for r in runs if r.rows != self.rows]


@dataclass(frozen=True)
class Machine:
    nproc: int
    memory_bytes: int
    cpu_model: str
    kernel: str
    postgres: str
    python: str
    packages: str

    @classmethod
    def describe(cls, postgres_version: str) -> Machine:
        return cls(
            nproc=len(os.sched_getaffinity(0)),  # what `nproc` prints
            memory_bytes=_meminfo_total_bytes(),
            cpu_model=_cpu_model(),
            kernel=f"{platform.system()} {platform.release()} {platform.machine()}",
            postgres=postgres_version,
            python=platform.python_version(),
            packages=", ".join(
                f"{name} {metadata.version(name)}" for name in ("pyarrow", "psycopg2-binary", "boto3", "moto")
            ),
        )


def _meminfo_total_bytes() -> int:
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class TargetCheck:
    target: str
    measured: str
    passed: bool


@dataclass
class BenchReport:
    config: BenchConfig
    machine: Machine
    started: datetime
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    elapsed_seconds: float = 0.0
    scales: list[Scale] = field(default_factory=list)

    def checks(self) -> list[TargetCheck]:
        main = self.scales[0]
        ratio = main.ratio_to_floor(ENGINE_LOCAL)
        checks = [
            TargetCheck(
                f"engine → local wall ≤ {MAX_WALL_RATIO_TO_FLOOR}x the csv floor's, same run ({main.rows:,} rows)",
                f"{ratio:.2f}x",
                ratio <= MAX_WALL_RATIO_TO_FLOOR,
            )
        ]
        for scale in self.scales:
            for path in ENGINE_PATHS:
                if path in scale.results:
                    rss = scale.peak_rss_mb(path)
                    checks.append(
                        TargetCheck(
                            f"{path} peak RSS ≤ {MAX_PEAK_RSS_MB:.0f} MB ({scale.rows:,} rows)",
                            f"{rss:.0f} MB",
                            rss <= MAX_PEAK_RSS_MB,
                        )
                    )
        speedup = main.wall(NAIVE) / main.wall(ENGINE_LOCAL)
        checks.append(
            TargetCheck(
                f"engine → local ≥ {MIN_SPEEDUP_OVER_NAIVE:.0f}x faster than naive ({main.rows:,} rows)",
                f"{speedup:.1f}x",
                speedup >= MIN_SPEEDUP_OVER_NAIVE,
            )
        )
        for scale in self.scales:
            wrong = scale.wrong_row_counts()
            checks.append(
                TargetCheck(
                    f"every run read or staged all {scale.rows:,} rows",
                    "; ".join(wrong) if wrong else "yes",
                    not wrong,
                )
            )
        return checks

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks())


# --- running --------------------------------------------------------------------------------------


class Runner:
    """Builds each path's job against the stack and runs it in a child process."""

    def __init__(self, stack: LocalStack, config: BenchConfig, progress: TextIO) -> None:
        self._stack = stack
        self._config = config
        self._progress = progress
        self._runs = 0
        pg = stack.pg
        self._pg = PgEndpoint(pg.host, pg.port, pg.database, pg.user, pg.password)
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

    if config.large_rows > config.rows:
        large = prepare_scale(stack, config.table, config.rows, config.large_rows, progress)
        runner.warm_up()
        runner.rounds(large, LARGE_PATHS, config.repeat)
        report.scales.append(large)
    report.load_after = os.getloadavg()
    report.elapsed_seconds = time.monotonic() - started
    return report


# --- the report ----------------------------------------------------------------------------------


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in load)


def _engine_settings(config: BenchConfig, pools: set[str]) -> str:
    batch = config.batch_bytes or default_extract_batch_bytes()
    row_group = config.row_group_rows or DEFAULT_ROW_GROUP_ROWS
    return (
        f"BATCH_SIZE 10,000 rows (the default), driver batch {batch / MIB:g} MiB"
        f"{'' if config.batch_bytes is None else ' (not the default)'}, row group {row_group:,} rows"
        f"{'' if config.row_group_rows is None else ' (not the default)'}, part target "
        f"{DEFAULT_PART_TARGET_BYTES / MIB:g} MiB, zstd; Arrow memory pool: {', '.join(sorted(pools)) or '?'}"
    )


def render(report: BenchReport, command: str) -> str:
    """The Markdown report; `command` is Markdown too (code spans included)."""
    config, machine = report.config, report.machine
    main = report.scales[0]
    pools = {r.memory_pool for s in report.scales for p in ENGINE_PATHS for r in s.results.get(p, [])}
    lines = [
        "# aurora-batch extraction benchmark",
        "",
        f"- Command: {command}",
        f"- Date: {report.started:%Y-%m-%d %H:%M} UTC; measuring took {report.elapsed_seconds:.0f} s; "
        f"load average (1/5/15 min) {_load(report.load_before)} before, {_load(report.load_after)} after",
        f"- Machine: nproc {machine.nproc}, {machine.memory_bytes / 2**30:.1f} GiB memory, "
        f"{machine.cpu_model}; {machine.kernel}",
        f"- PostgreSQL {machine.postgres} (the local stack's: loopback TCP, fsync off); "
        f"Python {machine.python}; {machine.packages}",
        f"- Table `{config.table.qualified}`: 10 columns (bigint id, text, numeric(12,2), two timestamptz, "
        "boolean, jsonb, uuid, double precision, text), filled by `INSERT … SELECT generate_series`, "
        "then `VACUUM ANALYZE`",
        f"- Engine: {_engine_settings(config, pools)}",
        f"- Wall s: the fastest of {_runs(config.repeat)} per path, round-robin "
        f"(naive: {_runs(config.naive_repeat)}), each run a fresh process, its clock started after its "
        "imports and before it connects. Peak RSS: the largest high-water mark (`VmHWM`) of those "
        "processes; RSS at start: resident when the clock started (interpreter and imports). "
        "Client CPU s: user + system of the measuring process (PostgreSQL's CPU is not in it)",
        "- MB/s: the table's CSV text size (the bytes `COPY … (FORMAT csv)` produced at that row count) "
        "divided by the path's wall seconds, so every path is measured against the same bytes. "
        "MB = 10^6 bytes",
        "",
        "| rows | path | wall s | rows/s | MB/s (CSV text) | peak RSS MB | RSS at start MB | client CPU s "
        "| wall / csv floor |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scale in report.scales:
        for path, label in PATH_LABELS.items():
            if path not in scale.results:
                continue
            wall = scale.wall(path)
            cells = [
                f"{scale.rows:,}",
                label,
                f"{wall:.2f}",
                f"{scale.rows / wall:,.0f}",
                f"{scale.csv_bytes / MB / wall:.1f}",
                f"{scale.peak_rss_mb(path):.0f}",
                f"{scale.start_rss_mb(path):.0f}",
                f"{scale.cpu(path):.2f}",
                f"{scale.ratio_to_floor(path):.2f}x",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| rows | on disk MB | CSV text MB | staged Parquet MB | parts |",
        "|---:|---:|---:|---:|---:|",
    ]
    for scale in report.scales:
        staged = scale.results[ENGINE_LOCAL][0]
        lines.append(
            f"| {scale.rows:,} | {scale.disk_bytes / MB:,.0f} | {scale.csv_bytes / MB:,.0f} | "
            f"{staged.output_bytes / MB:,.0f} | {staged.parts} |"
        )
    lines += ["", "## Targets (issue 3)", "", "| target | measured | result |", "|---|---|---|"]
    lines += [f"| {c.target} | {c.measured} | {'PASS' if c.passed else 'FAIL'} |" for c in report.checks()]
    if len(report.scales) > 1:
        large = report.scales[-1]
        small_rss, large_rss = main.peak_rss_mb(ENGINE_LOCAL), large.peak_rss_mb(ENGINE_LOCAL)
        lines += [
            "",
            f"Memory flatness: engine → local peak RSS {small_rss:.0f} MB at {main.rows:,} rows, "
            f"{large_rss:.0f} MB at {large.rows:,} rows ({large_rss - small_rss:+.0f} MB for "
            f"{large.rows / main.rows:.0f}x the rows).",
        ]
    lines += ["", "Peak RSS of every engine run, in run order (MB):", ""]
    for scale in report.scales:
        for path in ENGINE_PATHS:
            if path in scale.results:
                peaks = ", ".join(f"{r.peak_rss_mb:.0f}" for r in scale.results[path])
                lines.append(f"- {path}, {scale.rows:,} rows: {peaks}")
    lines += ["", f"Overall: {'PASS' if report.passed else 'FAIL'}", ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=defaults.rows, help="rows of the main run")
    parser.add_argument("--large-rows", type=int, default=defaults.large_rows, help="rows of the memory-flatness run")
    parser.add_argument("--repeat", type=int, default=defaults.repeat, help="runs per path (fastest counts)")
    parser.add_argument("--naive-repeat", type=int, default=defaults.naive_repeat, help="runs of naive")
    parser.add_argument("--batch-bytes", type=int, help="what-if: EXTRACT_BATCH_BYTES")
    parser.add_argument("--row-group-rows", type=int, help="what-if: Parquet row group rows")
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
