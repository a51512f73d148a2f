"""`verify_on_drift` end to end: the replication function, its key-count signal, and the verify it
starts through its own asynchronous invocation (delivered by a fake Lambda service, then drained
through the same handler) against the local stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aurora_batch.config import settings_from_env
from aurora_batch.wiring import Runtime

from tests.integration.test_loading import Source
from tests.support.lambda_fakes import FakeLambdaContext, FakeLambdaService


@pytest.fixture
def ledger(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "ledger")
    source.sql("CREATE TABLE {t} (id bigint PRIMARY KEY, note text, updated_at timestamptz NOT NULL)")
    source.sql(
        "INSERT INTO {t} SELECT g, 'n' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms' "
        "FROM generate_series(1, 1000) g"
    )
    return source


def _configure(monkeypatch: pytest.MonkeyPatch, source: Source, **options: Any) -> None:
    tables = {
        f"{source.schema}.ledger": {
            "mode": "incremental",
            "incremental_column": "updated_at",
            "lookback_seconds": 0,
            "row_digest": True,
            "delete_mode": "hard",
            "target_schema": source.sf_schema,
            **options,
        }
    }
    monkeypatch.setenv("TABLES", json.dumps(tables))


@pytest.mark.parametrize("verify_on_drift", [True, False])
def test_a_run_whose_counts_differ_starts_a_verify_when_configured(
    replication_handler: Any, ledger: Source, monkeypatch: pytest.MonkeyPatch, verify_on_drift: bool
) -> None:
    _configure(monkeypatch, ledger, verify_on_drift=verify_on_drift)
    lambda_service = FakeLambdaService()
    runtime = Runtime(settings_from_env(), lambda_client=lambda_service)
    monkeypatch.setattr(replication_handler, "runtime", lambda: runtime)
    event = {"schema_name": ledger.schema, "table_name": "ledger"}

    first = replication_handler.lambda_handler(event, FakeLambdaContext())
    assert (first["status"], first["verify_due"], first["verify_triggered"]) == ("succeeded", False, False)
    assert lambda_service.invocations == []

    ledger.sql("DELETE FROM {t} WHERE id IN (3, 4)")
    due = replication_handler.lambda_handler(event, FakeLambdaContext())
    assert (due["key_count_difference"], due["verify_due"], due["verify_triggered"]) == (2, True, verify_on_drift)
    if not verify_on_drift:
        assert lambda_service.invocations == []
        return
    (call,) = lambda_service.invocations
    assert call["type"] == "Event"
    # The verify event names the table and says repair; the receiver reads every option from configuration.
    assert call["payload"] == {
        "action": "verify",
        "schema_name": ledger.schema,
        "table_name": "ledger",
        "repair": True,
    }

    (verified,) = lambda_service.drain(replication_handler.lambda_handler, FakeLambdaContext)
    assert (verified["status"], verified["deleted"], verified["repaired_deleted"]) == ("repaired", 2, 2)

    after = replication_handler.lambda_handler(event, FakeLambdaContext())
    assert (after["key_count_difference"], after["verify_due"], after["verify_triggered"]) == (0, False, False)
    assert lambda_service.invocations == []
