"""Convergence after any crash: the replication CLI is SIGKILLed at each named point and at
seeded random moments, while writers keep inserting and updating. After each kill the CLI runs
again until it succeeds; the target must then equal the source row by row, and the watermark
must never have moved backwards."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aurora_batch.watermark import Watermark

from tests.integration.test_loading import Source
from tests.support.runs import make_runtime

CRASH_POINTS = ["extract", "upload", "copy", "commit", "cleanup"]
RANDOM_KILLS = 20
MAX_RERUNS = 6


@pytest.fixture(autouse=True, params=[1, 2], ids=["one-stream", "two-streams"])
def extract_streams(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every test runs with one COPY stream and with two (block ranges of one snapshot)."""
    streams = int(request.param)
    monkeypatch.setenv("EXTRACT_STREAMS", str(streams))
    monkeypatch.setenv("EXTRACT_SLICE_MIN_BYTES", "0")
    return streams


@pytest.fixture
def accounts(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "accounts")
    source.sql(
        "CREATE TABLE {t} (id bigint PRIMARY KEY, balance numeric(12,2) NOT NULL, note text, "
        "updated_at timestamptz NOT NULL)"
    )
    source.sql(
        "INSERT INTO {t} SELECT g, g % 1000, 'n' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms' "
        "FROM generate_series(1, 20000) g"
    )
    return source


def _env(source: Source, **extra: str) -> dict[str, str]:
    tables = (
        f'{{"{source.schema}.accounts": {{"mode": "incremental", "incremental_column": "updated_at", '
        f'"lookback_seconds": 5, "batch_size": 2000, "target_schema": "{source.sf_schema}"}}}}'
    )
    return {**os.environ, "TABLES": tables, "PART_TARGET_ROWS": "4000", "LOG_LEVEL": "WARNING", **extra}


def _start(source: Source, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aurora_batch.cli", "replicate", "--json"],
        env=_env(source, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_until_success(source: Source, watermarks: list[Watermark]) -> dict[str, Any]:
    """The report of the run that succeeded."""
    for _ in range(MAX_RERUNS):
        process = _start(source)
        out, err = process.communicate(timeout=300)
        _record_watermark(source, watermarks)
        if process.returncode == 0:
            report: dict[str, Any] = json.loads(out)
            return report
        assert process.returncode in (1, 3), err  # failed (retryable) or locked by the killed run's lease
        if process.returncode == 3:
            # The killed run's lease is still live: an operator (or time) clears it.
            _expire_lease(source)
    raise AssertionError(f"no successful run after {MAX_RERUNS} attempts")


def _record_watermark(source: Source, watermarks: list[Watermark]) -> None:
    state = make_runtime().state.get(f"{source.schema}.accounts")
    if state.watermark is not None:
        watermarks.append(state.watermark)


def _expire_lease(source: Source) -> None:
    """What the passage of LEASE_SECONDS does: the crashed run's lease lapses and is taken over."""
    store = make_runtime().state
    table = f"{source.schema}.accounts"
    from datetime import UTC, datetime

    from aurora_batch.adapters.state_store import AuditRecord

    store.admin_unlock(
        table,
        AuditRecord(actor="test", action="unlock", reason="crashed run in a convergence test", at=datetime.now(UTC)),
        only_if_expired=False,
    )


def _assert_converged(source: Source, watermarks: list[Watermark]) -> None:
    with source.stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT id, balance, note FROM "{source.schema}".accounts ORDER BY id')
        expected = [(int(i), str(b), n) for i, b, n in cursor.fetchall()]
    actual = [
        (int(i), str(b), n) for i, b, n in source.target("SELECT ID, BALANCE::VARCHAR, NOTE FROM {t} ORDER BY ID")
    ]
    missing = {r[0] for r in expected} - {r[0] for r in actual}
    assert len(actual) == len({r[0] for r in actual}), "duplicate keys in the target"
    assert not missing, f"{len(missing)} rows missing, e.g. {sorted(missing)[:5]}"
    assert actual == expected, "stale values in the target"
    assert watermarks == sorted(watermarks), "the watermark moved backwards"


@contextmanager
def _writers(source: Source, seed: int) -> Iterator[None]:
    """Insert and update rows, with now() as updated_at, until told to stop."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        rng = random.Random(seed * 100 + writer)
        connection = source.stack.pg_connect()
        next_id = 1_000_000 + writer * 1_000_000
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    if rng.random() < 0.5:
                        cursor.execute(
                            f'INSERT INTO "{source.schema}".accounts VALUES (%s, %s, %s, now())',
                            (next_id, rng.randint(0, 999), f"new {next_id}"),
                        )
                        next_id += 1
                    else:
                        cursor.execute(
                            f'UPDATE "{source.schema}".accounts SET balance = balance + 1, note = %s, '
                            "updated_at = now() WHERE id = %s",
                            (f"upd {rng.random():.6f}", rng.randint(1, 20000)),
                        )
                connection.commit()
        except BaseException as exc:  # surfaced to the test below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,), daemon=True) for writer in range(2)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures


@pytest.mark.parametrize("crash_point", CRASH_POINTS)
def test_a_kill_at_each_crash_point_converges(accounts: Source, crash_point: str, extract_streams: int) -> None:
    watermarks: list[Watermark] = []
    # A first load, then changes, then a run killed at the crash point.
    first = _run_until_success(accounts, watermarks)
    assert first["extract_streams"] == extract_streams
    accounts.sql("UPDATE {t} SET balance = balance + 5, updated_at = now() WHERE id % 7 = 0")
    accounts.sql("INSERT INTO {t} SELECT g, 1, 'late', now() FROM generate_series(20001, 20500) g")

    killed = _start(accounts, AURORA_BATCH_CRASH_AT=crash_point)
    killed.communicate(timeout=300)
    assert killed.returncode == -9, f"the run was expected to die at {crash_point}"
    _record_watermark(accounts, watermarks)

    _run_until_success(accounts, watermarks)
    _assert_converged(accounts, watermarks)


def test_seeded_random_kills_with_concurrent_writers_converge(accounts: Source) -> None:
    rng = random.Random(20261125)
    watermarks: list[Watermark] = []
    with _writers(accounts, seed=1):
        for _ in range(RANDOM_KILLS):
            process = _start(accounts)
            try:
                process.wait(timeout=rng.uniform(0.3, 3.0))  # the kill lands wherever the run is then
            except subprocess.TimeoutExpired:
                process.kill()
            process.communicate(timeout=60)
            _record_watermark(accounts, watermarks)
            if process.returncode == 3:
                _expire_lease(accounts)
    _run_until_success(accounts, watermarks)
    _assert_converged(accounts, watermarks)


def test_two_runs_started_at_the_same_time_never_both_load(accounts: Source) -> None:
    watermarks: list[Watermark] = []
    first, second = _start(accounts), _start(accounts)
    codes = sorted(p.wait(timeout=300) for p in (first, second))
    for process in (first, second):
        process.communicate(timeout=30)
    assert codes in ([0, 0], [0, 3]), codes  # one waits its turn or exits locked; never a double load
    _run_until_success(accounts, watermarks)
    _assert_converged(accounts, watermarks)
