"""One benchmark path, measured in a process of its own: ``python -m bench.paths <path>``.

The job (where PostgreSQL and S3 are, which table, where parts go) arrives as JSON on stdin, so
the password is never in argv or the environment; the result leaves as one JSON line on stdout.
Peak RSS is this process's own high-water mark (``VmHWM``), so one path's memory never pollutes
another's; ``ru_maxrss`` would not do, as Linux carries the parent's high-water mark into it across
fork and exec. Each path imports what it needs inside itself, so a raw COPY path's RSS does not
include pyarrow, and the clock starts after the imports and before the connection is opened.

Like ``aurora_batch_dev`` this is dev tooling: the floors and the naive baseline measure the
raw driver (psycopg2) on purpose, and the S3 path builds its boto3 client for moto here. The
engine paths go through ``aurora_batch``'s adapters and logic only, as the replication Lambda does.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchPathError
from bench.job import Job, PgEndpoint, S3Endpoint
from bench.job import PathResult as PathResult  # re-exported: the tests import it from here
from bench.proc import server_cpu_seconds, status_bytes

REPO_ROOT = Path(__file__).resolve().parents[1]
COPY_BUFFER_BYTES = 1 << 20  # the raw COPY paths write /dev/null through a buffer this size
NAIVE_FETCH_ROWS = 10_000
CHILD_TIMEOUT_SECONDS = 900.0


def default_extract_batch_bytes() -> int:
    """The product's EXTRACT_BATCH_BYTES default (imported here, not at module level: the raw
    COPY paths measure their RSS without the product's imports)."""
    from aurora_batch.config import Settings

    default: int = Settings.model_fields["extract_batch_bytes"].default
    return default


@dataclass(frozen=True)
class Outcome:
    rows: int
    output_bytes: int  # COPY output (text or binary), CSV text written, or staged part bytes
    parts: int = 0
    memory_pool: str = ""
    checksum: str = ""  # the engine's observed count, sums and NULL counts: equal data, equal checksum


Run = Callable[[], Outcome]
Cleanup = Callable[[], None]


class _CountingDevNull(io.RawIOBase):
    """/dev/null that counts what it is given. Behind a 1 MiB BufferedWriter it is called once
    per MiB, so counting costs nothing measurable."""

    def __init__(self) -> None:
        super().__init__()
        self._fd = os.open(os.devnull, os.O_WRONLY)
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        written = os.write(self._fd, data)
        self.count += written
        return written

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _connect_kwargs(pg: PgEndpoint) -> dict[str, Any]:
    return {"host": pg.host, "port": pg.port, "dbname": pg.database, "user": pg.user, "password": pg.password}


def _raw_copy(job: Job, copy_format: str) -> tuple[Run, Cleanup]:
    import psycopg2

    def run() -> Outcome:
        sink = _CountingDevNull()
        with (
            closing(psycopg2.connect(**_connect_kwargs(job.pg))) as connection,
            connection.cursor() as cursor,
            io.BufferedWriter(sink, buffer_size=COPY_BUFFER_BYTES) as out,
        ):
            cursor.copy_expert(f"COPY {job.ref.pg_sql} TO STDOUT (FORMAT {copy_format})", out)
            rows = cursor.rowcount
            out.flush()
            return Outcome(rows=rows, output_bytes=sink.count)

    return run, lambda: None


def _naive(job: Job) -> tuple[Run, Cleanup]:
    import csv

    import psycopg2

    def run() -> Outcome:
        sink = _CountingDevNull()
        rows = 0
        with (
            closing(psycopg2.connect(**_connect_kwargs(job.pg))) as connection,
            connection.cursor(name="bench_naive") as cursor,  # server-side cursor
            io.TextIOWrapper(
                io.BufferedWriter(sink, buffer_size=COPY_BUFFER_BYTES), encoding="utf-8", newline=""
            ) as out,
        ):
            cursor.execute(f"SELECT * FROM {job.ref.pg_sql}")
            writer = csv.writer(out)
            while batch := cursor.fetchmany(NAIVE_FETCH_ROWS):
                writer.writerows(batch)
                rows += len(batch)
            out.flush()
        return Outcome(rows=rows, output_bytes=sink.count)

    return run, lambda: None


def _engine(job: Job, *, to_s3: bool) -> tuple[Run, Cleanup]:
    """The replication Lambda's extract-and-stage loop (TableReplication._stage) with production
    defaults: snapshot, describe, plan, binary COPY decoded into Arrow and cut into batches of
    BATCH_SIZE rows, per-batch
    observation, zstd Parquet parts of PART_TARGET_BYTES."""
    import shutil

    import pyarrow
    from aurora_batch.adapters.postgres import PostgresSource
    from aurora_batch.adapters.s3 import S3Staging
    from aurora_batch.config import TableOptions
    from aurora_batch.logic.extract import ExtractPlan, plan_columns, read_batches
    from aurora_batch.logic.observe import StreamObserver, aggregate_specs
    from aurora_batch.logic.stage import (
        DEFAULT_ROW_GROUP_ROWS,
        PartSinkFactory,
        S3SinkFactory,
        Stager,
        local_sinks,
    )
    from aurora_batch.model import snowflake_name

    batch_rows: int = TableOptions.model_fields["batch_size"].default
    batch_bytes: int = job.batch_bytes or default_extract_batch_bytes()
    row_group_rows = job.row_group_rows or DEFAULT_ROW_GROUP_ROWS
    source = PostgresSource.from_params(
        host=job.pg.host,
        port=job.pg.port,
        database=job.pg.database,
        user=job.pg.user,
        password=job.pg.password,
    )
    run_path = f"{job.ref.qualified}/{job.run_id}"
    staging: S3Staging | None = None
    sinks: PartSinkFactory
    if to_s3:
        if job.s3 is None:
            raise BenchPathError("the engine-s3 path needs an S3 endpoint", path=job.path)
        staging = S3Staging(_moto_s3_client(job.s3), job.s3.bucket)
        sinks = S3SinkFactory(staging, job.s3.prefix)
    else:
        sinks = local_sinks(job.out_dir)

    def run() -> Outcome:
        if job.streams > 1:
            return run_streams()
        with source.snapshot() as snapshot:
            table = snapshot.describe(job.ref)
            columns = plan_columns(table, {c.name: snowflake_name(c.name) for c in table.columns})
            plan = ExtractPlan(table, columns)
            staged_names = {c.source.name: c.staged_name for c in columns}
            observer = StreamObserver(
                specs=aggregate_specs(columns, table.primary_key),
                clamped_sentinels={
                    c.staged_name: c.ctype.clamped_sentinels for c in columns if c.ctype.clamped_sentinels
                },
                key_columns=tuple(staged_names[k] for k in table.primary_key),
            )
            stager = Stager(sinks, run_path, plan.schema, row_group_rows=row_group_rows)
            with snapshot.copy_batches(plan.select_sql(), batch_bytes=batch_bytes) as raw:
                for batch in read_batches(raw, plan, batch_rows=batch_rows, table_name=job.ref.qualified):
                    observer.observe(batch)
                    stager.write(batch)
            parts = stager.close()
        if staging is not None:
            staging.close()
        staged_rows = sum(p.rows for p in parts)
        if staged_rows != observer.rows:
            raise BenchPathError(
                "staged parts do not hold the rows read",
                path=job.path,
                read=observer.rows,
                staged=staged_rows,
            )
        return Outcome(
            rows=staged_rows,
            output_bytes=sum(p.bytes for p in parts),
            parts=len(parts),
            memory_pool=pyarrow.default_memory_pool().backend_name,
            checksum=json.dumps(observer.expected(), default=str, sort_keys=True),
        )

    def run_streams() -> Outcome:
        """SliceSteps._stage_slices's loop: one stream per block range, each COPY on a connection that
        imports the snapshot, each stream in a thread with its own observer and parts, each with its
        share of the read and row group sizes (stream_budget)."""
        from concurrent.futures import ThreadPoolExecutor
        from contextlib import ExitStack

        from aurora_batch.logic.replicate.slices import block_ranges, stream_budget

        with source.snapshot() as snapshot:
            table = snapshot.describe(job.ref)
            columns = plan_columns(table, {c.name: snowflake_name(c.name) for c in table.columns})
            plan = ExtractPlan(table, columns)
            blocks, size = snapshot.table_blocks(job.ref)
            ranges = block_ranges(blocks, size, job.streams, 0)
            budget = stream_budget(batch_bytes, len(ranges), row_group_rows)
            total = StreamObserver(specs=aggregate_specs(columns, table.primary_key))
            streams = []
            with ExitStack() as copies:
                for index, bounds in enumerate(ranges):
                    sliced = ExtractPlan(table, columns, (snapshot.block_range_predicate(*bounds),))
                    raw = copies.enter_context(
                        snapshot.copy_batches(
                            sliced.select_sql(), batch_bytes=budget.batch_bytes, read_ahead=budget.read_ahead
                        )
                    )
                    stager = Stager(
                        sinks, f"{run_path}/stream-{index:02d}", plan.schema, row_group_rows=budget.row_group_rows
                    )
                    streams.append((sliced, raw, StreamObserver(specs=total.specs), stager))

                def read(stream: Any) -> None:
                    sliced, raw, observer, stager = stream
                    for batch in read_batches(raw, sliced, batch_rows=batch_rows, table_name=job.ref.qualified):
                        observer.observe(batch)
                        stager.write(batch)

                with ThreadPoolExecutor(len(streams)) as pool:
                    for finished in [pool.submit(read, stream) for stream in streams]:
                        finished.result()
            parts = [part for *_, stager in streams for part in stager.close()]
            for *_, observer, _stager in streams:
                total.absorb(observer)
        if staging is not None:
            staging.close()
        staged_rows = sum(p.rows for p in parts)
        if staged_rows != total.rows:
            raise BenchPathError("staged parts do not hold the rows read", path=job.path, read=total.rows)
        return Outcome(
            rows=staged_rows,
            output_bytes=sum(p.bytes for p in parts),
            parts=len(parts),
            memory_pool=pyarrow.default_memory_pool().backend_name,
            checksum=json.dumps(total.expected(), default=str, sort_keys=True),
        )

    def cleanup() -> None:
        if job.keep_output:
            return
        if staging is not None:
            staging.delete_prefix(sinks.key(run_path) + "/")
        else:
            shutil.rmtree(Path(job.out_dir), ignore_errors=True)

    return run, cleanup


def _moto_s3_client(s3: S3Endpoint) -> Any:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=s3.access_key, aws_secret_access_key=s3.access_key, region_name=s3.region
    )
    return session.client("s3", endpoint_url=s3.url)


PATHS: dict[str, Callable[[Job], tuple[Run, Cleanup]]] = {
    "copy-csv": lambda job: _raw_copy(job, "csv"),
    "copy-binary": lambda job: _raw_copy(job, "binary"),
    "engine-local": lambda job: _engine(job, to_s3=False),
    "engine-s3": lambda job: _engine(job, to_s3=True),
    "engine-local-2streams": lambda job: _engine(replace(job, streams=2), to_s3=False),
    "naive": _naive,
}


def measure(job: Job) -> PathResult:
    """Run one path in this process and measure it."""
    run, cleanup = PATHS[job.path](job)
    start_rss = status_bytes("VmRSS")
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    server_before = server_cpu_seconds(job.pg.server_pid)
    started = time.perf_counter()
    outcome = run()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = server_cpu_seconds(job.pg.server_pid) - server_before
    peak_rss = status_bytes("VmHWM")
    cleanup()
    cpu = (usage.ru_utime + usage.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    return PathResult(
        path=job.path,
        rows=outcome.rows,
        output_bytes=outcome.output_bytes,
        parts=outcome.parts,
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_mb=peak_rss / 1e6,
        start_rss_mb=start_rss / 1e6,
        memory_pool=outcome.memory_pool,
        server_cpu_seconds=server_cpu,
        checksum=outcome.checksum,
    )


def run_in_child(job: Job, timeout: float = CHILD_TIMEOUT_SECONDS) -> PathResult:
    """Measure one path in a fresh interpreter and return what it reported."""
    if job.path not in PATHS:
        raise BenchPathError(f"unknown benchmark path {job.path!r}", path=job.path, known=sorted(PATHS))
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "bench.paths", job.path],
            input=job.to_json(),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchPathError("benchmark path timed out", path=job.path, timeout_seconds=timeout) from exc
    if finished.returncode != 0:
        tail = "\n".join(finished.stderr.strip().splitlines()[-15:])
        raise BenchPathError(f"benchmark path failed:\n{tail}", path=job.path, exit_code=finished.returncode)
    lines = finished.stdout.strip().splitlines()
    try:
        return PathResult(**json.loads(lines[-1]))
    except (IndexError, ValueError, TypeError) as exc:
        raise BenchPathError("benchmark path printed no result", path=job.path) from exc


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in PATHS:
        print(f"usage: python -m bench.paths {{{'|'.join(PATHS)}}} < job.json", file=sys.stderr)
        return 2
    job = Job.from_json(sys.stdin.read())
    if job.path != args[0]:
        print(f"the job on stdin is for {job.path!r}, not {args[0]!r}", file=sys.stderr)
        return 2
    print(measure(job).to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
