"""Parallel extract on the local stack: block ranges of one snapshot read by several COPY streams
partition the table exactly, and runs with two streams load, validate, continue and fail whole."""

from __future__ import annotations

from typing import Any

import pytest
from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.logic.extract import ExtractPlan, plan_columns
from aurora_batch.logic.replicate import Budget
from aurora_batch.logic.replicate.slices import block_ranges
from aurora_batch.model import TableRef

from tests.integration.test_loading import Source
from tests.support.runs import make_runtime, replicate

PARALLEL = {"EXTRACT_STREAMS": "2", "EXTRACT_SLICE_MIN_BYTES": "0"}


def _source(stack: Any) -> PostgresSource:
    return PostgresSource.from_params(
        host=stack.pg.host,
        port=stack.pg.port,
        database=stack.pg.database,
        user=stack.pg.user,
        password=stack.pg.password,
    )


@pytest.fixture
def events(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "events")
    source.sql(
        "CREATE TABLE {t} (id bigint PRIMARY KEY, amount numeric(12,2), label text, updated_at timestamptz NOT NULL)"
    )
    source.sql(
        "INSERT INTO {t} SELECT g, g % 997, CASE WHEN g % 5 = 0 THEN NULL ELSE 'e' || g END, "
        "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 30000) g"
    )
    # Holes and moved row versions: deleted rows and updated rows (a new version, in a later block).
    source.sql("DELETE FROM {t} WHERE id % 11 = 0")
    source.sql("UPDATE {t} SET label = 'moved' WHERE id % 13 = 0")
    return source


def _ids_by_range(source: Source, streams: int) -> tuple[list[list[int]], int]:
    ref = TableRef(source.schema, source.table)
    with _source(source.stack).snapshot() as snapshot:
        table = snapshot.describe(ref)
        # Committed after the snapshot: invisible to every stream, though it lands in a new block.
        with source.stack.pg_connect() as writer, writer.cursor() as cursor:
            cursor.execute(f"INSERT INTO {ref.pg_sql} SELECT g, 1, 'late', now() FROM generate_series(40001, 41000) g")
            cursor.execute(f"UPDATE {ref.pg_sql} SET label = 'later' WHERE id % 17 = 0")
        visible = snapshot.query_one(f"SELECT count(*) FROM {ref.pg_sql}")
        blocks, size = snapshot.table_blocks(ref)
        ids: list[list[int]] = []
        for first, end in block_ranges(blocks, size, streams, 0):
            plan = ExtractPlan(table, plan_columns(table, {"id": "ID"}), (snapshot.block_range_predicate(first, end),))
            plan_text = snapshot.query(f"EXPLAIN {plan.select_sql()}")
            if first is not None or end is not None:
                assert "Tid Range Scan" in plan_text[0][0]  # each stream reads only its blocks
            with snapshot.copy_batches(plan.select_sql(), batch_bytes=1 << 20) as raw:
                ids.append([i for batch in raw for i in batch.column(0).to_pylist()])
    assert visible is not None
    return ids, int(visible[0])


@pytest.mark.parametrize("streams", [2, 3, 7])
def test_block_ranges_partition_the_snapshot_exactly(events: Source, streams: int) -> None:
    ids, visible = _ids_by_range(events, streams)
    everything = [i for part in ids for i in part]
    assert len(ids) == streams and all(ids)
    assert len(everything) == len(set(everything)) == visible  # no row twice, none missing
    assert set(everything) == {i for i in range(1, 30001) if i % 11}


def _rows(source: Source) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with source.stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT id, amount::text, label FROM "{source.schema}".events ORDER BY id')
        expected = [(int(i), str(a), label) for i, a, label in cursor.fetchall()]
    actual = source.target("SELECT ID, AMOUNT::VARCHAR, LABEL FROM {t} ORDER BY ID")
    return expected, [(int(i), str(a), label) for i, a, label in actual]


def test_a_full_refresh_with_two_streams_loads_every_row_once_and_validates(events: Source) -> None:
    report = replicate(events.options(batch_size=2000), make_runtime(PART_TARGET_ROWS="3000", **PARALLEL))
    assert report["status"] == "succeeded", report["error"]
    assert report["extract_streams"] == 2
    assert report["validation"]["staging"]["count"] == str(report["rows_extracted"])
    expected, actual = _rows(events)
    assert actual == expected


def test_an_incremental_run_with_two_streams_continues_over_invocations_and_converges(events: Source) -> None:
    runtime = make_runtime(PART_TARGET_ROWS="5000", **PARALLEL)
    options = events.options(mode="incremental", incremental_column="updated_at", lookback_seconds=0, batch_size=5000)
    exhausted = Budget(remaining=lambda: 0.0, margin_seconds=1.0)  # every stream stops at its first part
    reports = []
    for _ in range(60):  # each stop leaves its COPY, then its MERGE, to the next invocations
        reports.append(replicate(options, runtime, budget=exhausted))
        if reports[-1]["status"] != "continued":
            break
    assert reports[-1]["status"] == "succeeded", reports[-1]["error"]
    assert sum(r["extract_streams"] == 2 for r in reports) >= 5  # every extracting invocation read two streams
    assert all(r["extract_streams"] == 2 for r in reports if r["rows_extracted"])
    assert len(reports) >= 5
    expected, actual = _rows(events)
    assert actual == expected
    assert make_runtime().state.get(f"{events.schema}.events").checkpoint is None


def test_a_full_refresh_that_may_continue_reads_with_one_stream(events: Source) -> None:
    exhausted = Budget(remaining=lambda: 0.0, margin_seconds=1.0)
    report = replicate(
        events.options(batch_size=2000), make_runtime(PART_TARGET_ROWS="3000", **PARALLEL), budget=exhausted
    )
    assert report["status"] == "continued", report["error"]
    assert report["extract_streams"] == 1  # it resumes after one key: one stream, in key order


def test_a_failing_stream_fails_the_run_naming_the_row_and_leaves_no_copy_running(events: Source) -> None:
    events.sql("ALTER TABLE {t} ALTER COLUMN amount TYPE numeric")
    events.sql("UPDATE {t} SET amount = 'NaN' WHERE id = 29999")  # in the last block range
    report = replicate(events.options(batch_size=2000), make_runtime(**PARALLEL))
    assert report["status"] == "failed"
    assert report["error"]["error"] == "ValueConversionError", report["error"]
    assert "29999" in report["error"]["message"]
    assert report["extract_streams"] == 2
    with events.stack.pg_connect(superuser=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (%' AND state = 'active'")
        assert cursor.fetchone() == (0,)
