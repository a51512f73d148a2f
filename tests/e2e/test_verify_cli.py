"""`aurora-batch verify` end to end: the CLI process against the local stack, killed with SIGKILL
in the middle of a repair and run again; and the replication function's verify action."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.test_loading import Source
from tests.support.lambda_fakes import FakeLambdaContext
from tests.support.runs import make_runtime

CRASH_POINTS = ["extract", "copy", "commit"]


@pytest.fixture
def ledger(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "ledger")
    source.sql("CREATE TABLE {t} (id bigint PRIMARY KEY, note text, updated_at timestamptz NOT NULL)")
    source.sql(
        "INSERT INTO {t} SELECT g, 'n' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms' "
        "FROM generate_series(1, 5000) g"
    )
    return source


def _env(source: Source, **extra: str) -> dict[str, str]:
    tables = {
        f"{source.schema}.ledger": {
            "mode": "incremental",
            "incremental_column": "updated_at",
            "lookback_seconds": 0,
            "row_digest": True,
            "delete_mode": "hard",
            "target_schema": source.sf_schema,
        }
    }
    return {**os.environ, "TABLES": json.dumps(tables), "LOG_LEVEL": "WARNING", **extra}


def _cli(source: Source, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aurora_batch.cli", *args],
        env=_env(source, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _unlock(source: Source) -> None:
    """What the passage of LEASE_SECONDS does to the killed process's lease."""
    from aurora_batch.adapters.state_store import AuditRecord

    make_runtime().state.admin_unlock(
        f"{source.schema}.ledger",
        AuditRecord(actor="test", action="unlock", reason="killed verify in a test", at=datetime.now(UTC)),
        only_if_expired=False,
    )


def _damage(source: Source) -> None:
    source.sql("DELETE FROM {t} WHERE id IN (1, 2)")
    source.sql("UPDATE {t} SET note = 'silent' WHERE id IN (3, 4)")
    source.target("DELETE FROM {t} WHERE ID IN (5, 6)")


@pytest.mark.parametrize("crash_point", CRASH_POINTS)
def test_a_repair_killed_midway_is_run_again_cleanly(ledger: Source, crash_point: str) -> None:
    assert _cli(ledger, "replicate", "--json").returncode == 0
    watermark = make_runtime().state.get(f"{ledger.schema}.ledger").watermark
    _damage(ledger)

    killed = _cli(ledger, "verify", "--table", f"{ledger.schema}.ledger", "--repair", AURORA_BATCH_CRASH_AT=crash_point)
    assert killed.returncode == -9, killed.stderr
    _unlock(ledger)

    rerun = _cli(ledger, "verify", "--table", f"{ledger.schema}.ledger", "--repair", "--json")
    report = json.loads(rerun.stdout)
    assert rerun.returncode == 0, rerun.stderr
    assert report["status"] in ("repaired", "exact") and report["remaining"] in (0, None)
    final = _cli(ledger, "verify", "--table", f"{ledger.schema}.ledger", "--json")
    assert json.loads(final.stdout)["status"] == "exact", final.stdout
    # The watermark never moves under a verify.
    assert make_runtime().state.get(f"{ledger.schema}.ledger").watermark == watermark


def test_verify_prints_a_summary_and_exits_non_zero_on_drift(ledger: Source) -> None:
    assert _cli(ledger, "replicate", "--json").returncode == 0
    _damage(ledger)
    found = _cli(ledger, "verify", "--table", f"{ledger.schema}.ledger")
    assert found.returncode == 1
    header, _, row = found.stdout.strip().splitlines()[-3:]
    assert header.split()[:2] == ["table", "status"] and row.split()[1:6] == ["drift", "4998", "2", "2", "2"]


def test_unknown_table_is_refused(ledger: Source) -> None:
    refused = _cli(ledger, "verify", "--table", f"{ledger.schema}.nope")
    assert refused.returncode == 2
    assert "does not list" in refused.stderr


def test_the_replication_function_verifies_under_the_lease(
    ledger: Source, replication_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLES", _env(ledger)["TABLES"])
    replicated = replication_handler.lambda_handler(
        {"table_name": "ledger", "schema_name": ledger.schema}, FakeLambdaContext()
    )
    assert replicated["status"] == "succeeded"
    _damage(ledger)
    event = {"action": "verify", "schema_name": ledger.schema, "table_name": "ledger", "repair": True}
    report = replication_handler.lambda_handler(event, FakeLambdaContext())
    assert (report["status"], report["missing"], report["changed"], report["deleted"]) == ("repaired", 2, 2, 2)
