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

from aurora_batch.errors import AuroraBatchError
from aurora_batch.logic.stage import DEFAULT_PART_TARGET_BYTES, DEFAULT_ROW_GROUP_ROWS
from aurora_batch.model import TableRef
from aurora_batch_dev import LocalStack
from aurora_batch_dev.services import AWS_REGION, AWS_TEST_KEY

from bench import dataset
from bench.paths import REPO_ROOT, Job, PathResult, PgEndpoint, S3Endpoint, default_extract_batch_bytes, run_in_child
from bench.verify import VerifySection, render_section, run_verify_section

BENCH_TABLE = TableRef("bench", "mixed10")
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "latest.md"
FLOOR = "copy-csv"
ENGINE_LOCAL = "engine-local"
ENGINE_S3 = "engine-s3"
ENGINE_TWO_STREAMS = "engine-local-2streams"
NAIVE = "naive"
MAIN_PATHS = (FLOOR, "copy-binary", ENGINE_LOCAL, ENGINE_TWO_STREAMS, ENGINE_S3)  # repeated, round-robin
LARGE_PATHS = (FLOOR, ENGINE_LOCAL, ENGINE_TWO_STREAMS)
ENGINE_PATHS = (ENGINE_LOCAL, ENGINE_TWO_STREAMS, ENGINE_S3)
PATH_LABELS = {
    FLOOR: "raw `COPY … TO STDOUT (FORMAT csv)` → /dev/null (the floor)",
    "copy-binary": "raw `COPY … TO STDOUT (FORMAT binary)` → /dev/null",
    ENGINE_LOCAL: "engine: PostgreSQL → zstd Parquet parts, local files",
    ENGINE_TWO_STREAMS: "engine, 2 streams (block ranges of one snapshot) → local files",
    ENGINE_S3: "engine: PostgreSQL → zstd Parquet parts, moto S3 multipart upload",
    NAIVE: "naive: server-side cursor, `fetchmany(10000)`, Python `csv` → /dev/null",
}

# The extraction targets.
MAX_WALL_RATIO_TO_FLOOR = 1.3
MAX_PEAK_RSS_MB = 300.0
MIN_SPEEDUP_OVER_NAIVE = 8.0
# Scaling past one stream: two streams no slower than one, at most 1.6x its memory. "No slower"
# is judged at the resolution the run itself measures: the fastest of two streams' runs may
# exceed one stream's fastest by no more than one stream's own spread between its runs (fastest
# to slowest), and never by more than 5%. On 2 cores one stream already keeps both busy, so the
# two can only tie here (docs/PERFORMANCE.md, "Past one stream").
MAX_TWO_STREAM_WALL_RATIO = 1.0
MAX_TWO_STREAM_NOISE = 0.05
MAX_TWO_STREAM_RSS_RATIO = 1.6

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
    verify: bool = True  # the verify section: full refresh, verify, verify --repair on the main table


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

    def server_cpu(self, path: str) -> float:
        return min(r.server_cpu_seconds for r in self.results[path])

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
    verify: VerifySection | None = None

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
        checks += self._stream_checks()
        checks += self._verify_checks()
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

    def _stream_checks(self) -> list[TargetCheck]:
        """Two streams against one, at the largest size measured."""
        scale = self.scales[-1]
        if ENGINE_TWO_STREAMS not in scale.results:
            return []
        wall = scale.wall(ENGINE_TWO_STREAMS) / scale.wall(ENGINE_LOCAL)
        one_stream = [r.wall_seconds for r in scale.results[ENGINE_LOCAL]]
        noise = min(max(one_stream) / min(one_stream) - 1, MAX_TWO_STREAM_NOISE)
        allowed = MAX_TWO_STREAM_WALL_RATIO + noise
        rss = scale.peak_rss_mb(ENGINE_TWO_STREAMS) / scale.peak_rss_mb(ENGINE_LOCAL)
        checksums = {r.checksum for path in (ENGINE_LOCAL, ENGINE_TWO_STREAMS) for r in scale.results[path]}
        return [
            TargetCheck(
                f"2 streams no slower than 1, within 1 stream's own run-to-run spread, at most "
                f"{MAX_TWO_STREAM_NOISE:.0%} ({scale.rows:,} rows)",
                f"{wall:.2f}x (allowed ≤ {allowed:.2f}x: 1 stream's runs "
                f"{min(one_stream):.2f} to {max(one_stream):.2f} s)",
                wall <= allowed,
            ),
            TargetCheck(
                f"2 streams peak RSS ≤ {MAX_TWO_STREAM_RSS_RATIO}x 1 stream's ({scale.rows:,} rows)",
                f"{rss:.2f}x",
                rss <= MAX_TWO_STREAM_RSS_RATIO,
            ),
            TargetCheck(
                f"2 streams stage the same data as 1 (count, sums, non-NULL counts; {scale.rows:,} rows)",
                "yes" if len(checksums) == 1 else f"{len(checksums)} different",
                len(checksums) == 1,
            ),
        ]

    def _verify_checks(self) -> list[TargetCheck]:
        if self.verify is None:
            return []
        checks = [TargetCheck(target, measured, passed) for target, measured, passed in self.verify.checks()]
        # The extraction targets bound the verify's memory; the full refresh is its yardstick for time
        # (its RSS, connector and load included, is in the section's table).
        for step, result in self.verify.steps.items():
            if step == "full-refresh":
                continue
            checks.append(
                TargetCheck(
                    f"{step} peak RSS ≤ {MAX_PEAK_RSS_MB:.0f} MB ({self.verify.rows:,} rows)",
                    f"{result.peak_rss_mb:.0f} MB",
                    result.peak_rss_mb <= MAX_PEAK_RSS_MB,
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
        "Client CPU s: user + system of the measuring process; server CPU s: user + system of "
        "PostgreSQL's processes meanwhile (its backends, whatever they served)",
        "- MB/s: the table's CSV text size (the bytes `COPY … (FORMAT csv)` produced at that row count) "
        "divided by the path's wall seconds, so every path is measured against the same bytes. "
        "MB = 10^6 bytes",
        "",
        "| rows | path | wall s | rows/s | MB/s (CSV text) | peak RSS MB | RSS at start MB | client CPU s "
        "| server CPU s | wall / csv floor |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
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
                f"{scale.server_cpu(path):.2f}",
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
    if report.verify is not None:
        lines += render_section(report.verify)
    lines += ["", "## Targets", "", "| target | measured | result |", "|---|---|---|"]
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
    lines += model_lines(report.scales[-1])
    lines += ["", f"Overall: {'PASS' if report.passed else 'FAIL'}", ""]
    return "\n".join(lines)


# The model's assumptions (docs/PERFORMANCE.md states why): a 10,240 MB Lambda has 6 vCPUs; the
# Aurora writer the Map reads from has 16 vCPUs (db.r6g.4xlarge) to spare for the extract.
MODEL_LAMBDA_VCPUS = 6
MODEL_MAP_SLICES = 32
MODEL_SERVER_VCPUS = 16


def model_lines(scale: Scale) -> list[str]:
    """Per-stream cost measured with one stream, projected to more CPUs: N streams go N times as
    fast until the client's or the server's CPUs are used up, whichever comes first."""
    if ENGINE_LOCAL not in scale.results:
        return []
    wall, client, server = scale.wall(ENGINE_LOCAL), scale.cpu(ENGINE_LOCAL), scale.server_cpu(ENGINE_LOCAL)
    per_stream = scale.rows / wall
    client_per_stream, server_per_stream = client / wall, server / wall  # vCPUs one stream keeps busy

    def rows_per_second(streams: int, client_vcpus: float, server_vcpus: float) -> float:
        limits = [streams * per_stream]
        if client_per_stream > 0:
            limits.append(client_vcpus / client_per_stream * per_stream)
        if server_per_stream > 0:
            limits.append(server_vcpus / server_per_stream * per_stream)
        return min(limits)

    lambda_rate = rows_per_second(MODEL_LAMBDA_VCPUS, MODEL_LAMBDA_VCPUS, MODEL_SERVER_VCPUS)
    map_rate = rows_per_second(
        MODEL_MAP_SLICES * MODEL_LAMBDA_VCPUS, MODEL_MAP_SLICES * MODEL_LAMBDA_VCPUS, MODEL_SERVER_VCPUS
    )
    saturating = MODEL_SERVER_VCPUS / server_per_stream if server_per_stream > 0 else float("inf")
    return [
        "",
        f"## Model (from engine → local, one stream, {scale.rows:,} rows)",
        "",
        f"- One stream: {per_stream:,.0f} rows/s; it keeps {client_per_stream:.2f} client vCPUs and "
        f"{server_per_stream:.2f} server vCPUs busy ({client / scale.rows * 1e6:.2f} client and "
        f"{server / scale.rows * 1e6:.2f} server CPU s per million rows)",
        f"- A {MODEL_LAMBDA_VCPUS}-vCPU Lambda, {MODEL_LAMBDA_VCPUS} streams, a {MODEL_SERVER_VCPUS}-vCPU writer: "
        f"{lambda_rate:,.0f} rows/s ({lambda_rate / per_stream:.1f}x one stream)",
        f"- A {MODEL_MAP_SLICES}-slice Map of such Lambdas on the same writer: {map_rate:,.0f} rows/s "
        f"({map_rate / per_stream:.1f}x one stream); streams stop scaling at about {saturating:.0f}, "
        f"where the writer's {MODEL_SERVER_VCPUS} vCPUs are busy",
    ]


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
