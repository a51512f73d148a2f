"""`make bench` on a small table: every path reads or stages every row, the engine's parts hold the
table's data, and each path's peak RSS is its own. No timing is asserted: speed targets belong to
`make bench` on a quiet machine, not to a test."""

from __future__ import annotations

import io
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from aurora_batch.model import TableRef

from bench import dataset
from bench.paths import PATHS, run_in_child
from bench.run import LARGE_PATHS, PATH_LABELS, BenchConfig, Runner, render, run_bench
from bench.verify import DAMAGED_ROWS

if TYPE_CHECKING:
    from aurora_batch_dev import LocalStack

ROWS = 20_000


@pytest.fixture
def bench_table(stack: LocalStack, pg_schema: str) -> TableRef:
    table = TableRef(pg_schema, "mixed10")
    with closing(stack.pg_connect()) as connection:
        dataset.create_table(connection, table)
        dataset.add_rows(connection, table, 1, ROWS)
    return table


def _source_facts(stack: LocalStack, table: TableRef) -> tuple[int, int, Any, int]:
    """count(*), sum(id), sum(amount), count(note) in PostgreSQL."""
    with closing(stack.pg_connect()) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), sum(id), sum(amount), count(note) FROM {table.pg_sql}")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), row[2], int(row[3])


def _staged_facts(staged: pa.Table) -> tuple[int, int, Any, int]:
    return (
        staged.num_rows,
        pc.sum(staged["ID"]).as_py(),
        pc.sum(staged["AMOUNT"]).as_py(),
        staged.num_rows - staged["NOTE"].null_count,
    )


def test_every_path_reads_every_row_at_both_sizes(stack: LocalStack, pg_schema: str) -> None:
    config = BenchConfig(rows=ROWS, large_rows=2 * ROWS, repeat=1, table=TableRef(pg_schema, "mixed10"))

    report = run_bench(stack, config, io.StringIO())

    main, large = report.scales
    assert {path: [r.rows for r in runs] for path, runs in main.results.items()} == {path: [ROWS] for path in PATHS}
    assert {path: [r.rows for r in runs] for path, runs in large.results.items()} == {
        path: [2 * ROWS] for path in LARGE_PATHS
    }
    assert main.csv_bytes > ROWS * 100  # ~230 bytes a row: the floor counted what COPY sent
    assert all(check.passed for check in report.checks() if check.target.startswith("every run"))
    text = render(report, "`python -m bench.run --rows 20000`")
    assert all(label in text for label in PATH_LABELS.values())
    assert "| target | measured | result |" in text
    # The verify section: exactly the damaged keys found and fixed, by re-reading only them.
    assert report.verify is not None
    assert [s.status for s in report.verify.steps.values()] == ["refreshed", "exact", "repaired"]
    for kind in ("deleted", "changed", "missing"):
        assert report.verify.found(kind) == sorted(report.verify.damaged[kind])
    assert report.verify.steps["full-refresh"].rows_read_by_copy == ROWS
    assert report.verify.steps["verify-repair"].rows_read_by_copy == 2 * DAMAGED_ROWS  # changed and missing
    timing_free = [c for c in report.checks() if "wall time" not in c.target and "peak RSS" not in c.target]
    assert all(check.passed for check in timing_free if "verify" in check.target or "repair" in check.target)
    assert "## Verify and repair" in text
    phases = report.verify.steps["full-refresh"].report["phases"]
    assert {"extract", "upload", "copy", "overwrite"} <= set(phases)
    assert "Full refresh phases (s, from its run report): plan" in text
    assert f"extract {phases['extract']:.2f}, upload {phases['upload']:.2f}" in text
    with closing(stack.pg_connect()) as connection:  # the damaged source rows were put back
        assert dataset.table_facts(connection, config.table)[0] == 2 * ROWS


def test_engine_parts_hold_the_table(stack: LocalStack, bench_table: TableRef) -> None:
    expected = _source_facts(stack, bench_table)
    runner = Runner(stack, BenchConfig(rows=ROWS, table=bench_table), io.StringIO())

    local_job = runner.job("engine-local", keep_output=True)
    local_result = run_in_child(local_job)
    local_files = sorted(Path(local_job.out_dir).rglob("*.parquet"))
    assert local_result.parts == len(local_files) >= 1
    assert local_result.output_bytes == sum(f.stat().st_size for f in local_files)
    assert _staged_facts(pa.concat_tables(pq.read_table(f) for f in local_files)) == expected

    s3_job = runner.job("engine-s3", keep_output=True)
    s3_result = run_in_child(s3_job)
    assert s3_job.s3 is not None
    client = boto3.session.Session(
        aws_access_key_id=s3_job.s3.access_key,
        aws_secret_access_key=s3_job.s3.access_key,
        region_name=s3_job.s3.region,
    ).client("s3", endpoint_url=s3_job.s3.url)
    prefix = f"{s3_job.s3.prefix}/{bench_table.qualified}/{s3_job.run_id}/"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_job.s3.bucket, Prefix=prefix)["Contents"]]
    assert s3_result.parts == len(keys) >= 1
    staged = pa.concat_tables(
        pq.read_table(io.BytesIO(client.get_object(Bucket=s3_job.s3.bucket, Key=key)["Body"].read()))
        for key in sorted(keys)
    )
    assert _staged_facts(staged) == expected


def test_without_keep_output_the_engine_leaves_no_parts(stack: LocalStack, bench_table: TableRef) -> None:
    runner = Runner(stack, BenchConfig(rows=ROWS, table=bench_table), io.StringIO())
    job = runner.job("engine-local")

    result = run_in_child(job)

    assert result.rows == ROWS
    assert not Path(job.out_dir).exists()


def test_a_path_peak_rss_is_its_own_not_the_parents(stack: LocalStack, bench_table: TableRef) -> None:
    runner = Runner(stack, BenchConfig(rows=ROWS, table=bench_table), io.StringIO())
    parent_ballast = b"\x01" * (300 << 20)  # resident in this process while the child runs

    result = run_in_child(runner.job("copy-csv"))

    assert len(parent_ballast) == 300 << 20
    assert result.rows == ROWS
    assert 0 < result.peak_rss_mb < 150  # ru_maxrss would report the parent's 300 MB and more


def test_the_cli_bench_runs_a_full_refresh_and_two_incremental_runs(stack: LocalStack, pg_schema: str) -> None:
    from bench.cli_phases import measure
    from bench.cli_phases import render as render_cli

    runs = measure(stack, TableRef(pg_schema, "cli_phases"), 2_000, 150, io.StringIO())

    assert [report["status"] for _, report, _ in runs] == ["succeeded"] * 3
    full, first, later = (report for _, report, _ in runs)
    assert (full["mode"], first["mode"], later["mode"]) == ("full", "incremental", "incremental")
    assert full["rows_loaded"] == first["rows_loaded"] == 2_000
    # The later run reads the new rows and, from the lookback, at most the rows at the old watermark.
    assert later["rows_loaded"] >= 150
    assert later["rows_loaded"] < 2_000
    assert {"extract", "copy", "validate"} <= full["phases"].keys()
    text = render_cli(2_000, runs)
    assert text.count("| succeeded |") == 3
