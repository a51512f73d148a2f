"""Verify in operation, on the local stack: the key-count drift signal of incremental runs, the
verify report in the run history and in `status`, and a verify racing concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from aurora_batch.config import TableOptions, ops_settings_from_env
from aurora_batch.logic.status import table_status
from aurora_batch.logic.verify.compare import Level
from aurora_batch.logic.verify.entry import verify_table
from aurora_batch.wiring_light import OpsRuntime

from tests.integration.test_loading import Source
from tests.support.runs import make_runtime, replicate

NEVER_LATE = 1e12  # the test rows are from 2024: no lateness in these statuses


@pytest.fixture
def orders(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "orders")
    source.sql("CREATE TABLE {t} (id bigint PRIMARY KEY, region text, label text, updated_at timestamptz NOT NULL)")
    source.sql(
        "INSERT INTO {t} SELECT g, CASE WHEN g % 10 = 0 THEN 'eu' ELSE 'us' END, 'v1', "
        "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 2000) g"
    )
    return source


def _incremental(source: Source, **extra: Any) -> TableOptions:
    return source.options(
        mode="incremental", incremental_column="updated_at", lookback_seconds=0, row_digest=True, **extra
    )


def _run(options: TableOptions) -> dict[str, Any]:
    report = replicate(options)
    assert report["status"] == "succeeded", report["error"]
    return report


def _counts(report: dict[str, Any]) -> tuple[Any, ...]:
    return (
        report["key_count_source"],
        report["key_count_target"],
        report["key_count_difference"],
        report["verify_due"],
    )


def test_every_incremental_run_compares_key_counts_and_says_when_a_verify_is_due(orders: Source) -> None:
    options = _incremental(orders)
    assert _counts(_run(options)) == (2000, 2000, 0, False)

    orders.sql("DELETE FROM {t} WHERE id IN (1, 2, 3)")  # invisible to an incremental run
    orders.target("DELETE FROM {t} WHERE ID = 4")  # lost from the target behind the replicator's back
    due = _run(options)
    assert _counts(due) == (1997, 1999, 2, True)
    assert any("a verify is due" in warning for warning in due["warnings"])

    # A soft-deleting repair marks the deleted rows: the target's live rows count again as the source's.
    repaired = verify_table(options, make_runtime(), repair=True).to_dict()
    assert (repaired["status"], repaired["deleted"], repaired["missing"]) == ("repaired", 3, 1)
    assert _counts(_run(options)) == (1997, 1997, 0, False)


def test_the_key_counts_follow_the_tables_where(orders: Source) -> None:
    options = _incremental(orders, where="region = 'eu'")
    assert _counts(_run(options)) == (200, 200, 0, False)
    orders.sql("DELETE FROM {t} WHERE id IN (10, 11)")  # 11 is outside the filter: no drift
    assert _counts(_run(options)) == (199, 200, 1, True)


def test_a_full_refresh_reports_no_key_counts(orders: Source) -> None:
    report = _run(orders.options(row_digest=True))
    assert _counts(report) == (None, None, None, None)


def test_a_verify_is_kept_in_the_run_history_and_shown_by_status(orders: Source) -> None:
    options = _incremental(orders)
    _run(options)
    orders.sql("UPDATE {t} SET label = 'silent' WHERE id IN (5, 6)")
    runtime = make_runtime()

    found = verify_table(options, runtime).to_dict()

    state = runtime.services().state.get(options.ref.qualified)
    assert state.last_verify is not None
    assert (state.last_verify["run_id"], state.last_verify["mode"]) == (found["run_id"], "verify")
    assert state.last_run is not None and state.last_run["mode"] == "incremental"  # the replication's still
    status = table_status(state, datetime.now(UTC), late_after_seconds=NEVER_LATE)
    assert (status.verify_drift, status.attention) == ("2 rows", ["drift"])
    history = OpsRuntime(ops_settings_from_env()).state.run_history(options.ref.qualified)
    assert [run["run_id"] for run in history if run.get("mode") == "verify"] == [found["run_id"]]

    verify_table(options, runtime, repair=True)
    status = table_status(
        runtime.services().state.get(options.ref.qualified), datetime.now(UTC), late_after_seconds=NEVER_LATE
    )
    assert (status.verify_drift, status.attention) == ("2 repaired", [])


class _WritersBetweenLevels:
    """Verify progress that, once the first level has been read in the verify's snapshot, lets the
    writers run and waits until they have committed: their changes land mid-verify."""

    def __init__(self, writers_go: threading.Event, writers_done: threading.Event) -> None:
        self._go, self._done = writers_go, writers_done

    def level_started(self, modulus: int) -> None:
        return None

    def level(self, level: Level) -> None:
        if not self._go.is_set():
            self._go.set()
            assert self._done.wait(timeout=60), "the writers never finished"


# One range on the snapshot's connection; three read at once, each on a connection that imports the
# snapshot when its level starts (after the writers of the level before have committed).
RANGES = {"one range": {}, "three ranges": {"EXTRACT_STREAMS": "3", "EXTRACT_SLICE_MIN_BYTES": "0"}}


@pytest.mark.parametrize("ranges", RANGES.values(), ids=RANGES.keys())
def test_concurrent_writers_during_a_verify_cause_no_false_drift(orders: Source, ranges: dict[str, str]) -> None:
    options = _incremental(orders)
    _run(options)
    orders.sql("DELETE FROM {t} WHERE id = 7")  # real drift, before the verify's snapshot
    writers_go, writers_done = threading.Event(), threading.Event()
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def writer(statements: list[str]) -> None:
        try:
            writers_go.wait(timeout=60)
            barrier.wait(timeout=60)  # all three commit together, inside the verify
            for statement in statements:
                orders.sql(statement)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    threads = [
        threading.Thread(target=writer, args=(statements,))
        for statements in (
            ["INSERT INTO {t} SELECT g, 'us', 'new', now() FROM generate_series(5001, 5100) g"],
            ["UPDATE {t} SET label = 'moved', updated_at = now() WHERE id BETWEEN 100 AND 150"],
            ["DELETE FROM {t} WHERE id BETWEEN 200 AND 260", "UPDATE {t} SET label = 'silent' WHERE id = 300"],
        )
    ]
    for thread in threads:
        thread.start()

    def run_writers_then_release() -> None:
        for thread in threads:
            thread.join(timeout=120)
        writers_done.set()

    releaser = threading.Thread(target=run_writers_then_release)
    releaser.start()
    runtime = make_runtime(**ranges)
    report = verify_table(options, runtime, progress=_WritersBetweenLevels(writers_go, writers_done)).to_dict()
    releaser.join(timeout=120)

    assert not failures
    assert writers_done.is_set()  # the writers committed while the verify ran
    # Only the delete made before the verify started is drift: the verify reads one snapshot.
    assert (report["status"], report["deleted"], report["missing"], report["changed"]) == ("drift", 1, 0, 0)
    assert report["samples"]["deleted"] == [["7"]]
    assert report["source_ranges"] == (3 if ranges else 1)

    # The next verify sees the writes: the new and moved rows are newer than the watermark (pending),
    # the deletes and the silent update are drift.
    after = verify_table(options, make_runtime(**ranges)).to_dict()
    assert (after["pending"], after["deleted"], after["changed"], after["missing"]) == (100 + 51, 1 + 61, 1, 0)


def test_columns_without_a_hash_function_are_digested_by_their_text(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str
) -> None:
    source = Source(stack, pg_schema, sf_schema, "varied")
    source.sql(f"CREATE TYPE \"{pg_schema}\".mood AS ENUM ('calm', 'busy')")
    source.sql(
        f'CREATE TABLE {{t}} (id int PRIMARY KEY, doc json, tags text[], mood "{pg_schema}".mood, spot point, '
        "span interval, amount numeric(12,2), ratio float8, meta jsonb, at timestamptz)"
    )
    source.sql(
        "INSERT INTO {t} SELECT g, json_build_object('g', g), ARRAY['a', g::text], 'calm', point(g, g), "
        "g * interval '1 minute', g * 1.25, g / 3.0, jsonb_build_object('k', g), now() FROM generate_series(1, 200) g"
    )
    options = source.options(row_digest=True, delete_mode="hard")
    _run(options)
    assert verify_table(options, make_runtime()).to_dict()["status"] == "exact"

    source.sql('UPDATE {t} SET doc = \'{"g": "changed"}\' WHERE id = 1')
    source.sql("UPDATE {t} SET tags = ARRAY['b'] WHERE id = 2")
    source.sql("UPDATE {t} SET mood = 'busy' WHERE id = 3")
    source.sql("UPDATE {t} SET spot = point(0, 0) WHERE id = 4")
    source.sql("UPDATE {t} SET ratio = 0.5 WHERE id = 5")
    found = verify_table(options, make_runtime(), repair=True).to_dict()
    assert (found["changed"], found["status"]) == (5, "repaired"), found
    assert sorted(found["samples"]["changed"]) == [["1"], ["2"], ["3"], ["4"], ["5"]]
