"""The incremental protocol: late commits, lookback, NULL watermarks, leases and resumable runs
across time limits. Every run is real: PostgreSQL, DynamoDB (moto), S3 (moto), Vault, Snowflake."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from aurora_batch.adapters.state_store import StateStore
from aurora_batch.config import TableOptions
from aurora_batch.logic.replicate import Budget

from tests.integration.test_loading import Source
from tests.support.runs import make_runtime, replicate


@pytest.fixture
def items(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "items")
    source.sql("CREATE TABLE {t} (id bigint PRIMARY KEY, label text, updated_at timestamptz)")
    source.sql(
        "INSERT INTO {t} SELECT g, 'v1', timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' "
        "FROM generate_series(1, 3000) g"
    )
    return source


def _incremental(source: Source, **extra: Any) -> TableOptions:
    extra.setdefault("lookback_seconds", 0)
    return source.options(mode="incremental", incremental_column="updated_at", **extra)


def _state(source: Source) -> Any:
    return make_runtime().state.get(f"{source.schema}.{source.table}")


def _source_rows(source: Source) -> list[tuple[Any, ...]]:
    with source.stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT id, label FROM "{source.schema}"."{source.table}" ORDER BY id')
        return list(cursor.fetchall())


def _target_rows(source: Source) -> list[tuple[Any, ...]]:
    return source.target("SELECT ID, LABEL FROM {t} ORDER BY ID")


def test_a_transaction_open_across_a_run_is_caught_by_the_next_run(items: Source) -> None:
    options = _incremental(items)
    assert replicate(options)["status"] == "succeeded"

    # A writer starts a transaction (now() is fixed at its start) and commits only after the run.
    late = items.stack.pg_connect()
    late_cursor = late.cursor()
    late_cursor.execute(f"INSERT INTO \"{items.schema}\".items VALUES (5001, 'late', now())")
    # Meanwhile other writers commit rows with later values.
    items.sql("INSERT INTO {t} VALUES (5002, 'early', clock_timestamp() + interval '1 second')")

    during = replicate(options)
    assert during["status"] == "succeeded", during["error"]
    late.commit()
    late.close()
    after = replicate(options)

    assert after["status"] == "succeeded", after["error"]
    assert (5001, "late") in _target_rows(items)
    assert _target_rows(items) == _source_rows(items)
    # The watermark did not pass the open transaction's start even though a later row was read.
    assert during["watermark_after"] < "2099"
    assert during["watermark_after"] <= after["watermark_after"]


def test_without_pg_stat_activity_the_run_warns_and_the_lookback_protects(items: Source) -> None:
    role = items.stack.create_pg_role("no_stats_reader", read_schemas=(items.schema,))
    runtime = make_runtime()
    # The same table, read by a role that cannot see other sessions' transactions.
    services_env = {"VAULT_SECRET_PATH_AURORA": "secret/aurora/no-stats"}
    import hvac

    client = hvac.Client(url=items.stack.vault_addr, token=items.stack.vault_token)
    client.secrets.kv.v2.create_or_update_secret(
        path="aurora/no-stats",
        secret={
            "host": role.host,
            "port": role.port,
            "database": role.database,
            "user": role.user,
            "password": role.password,
        },
    )
    report = replicate(_incremental(items, lookback_seconds=600), make_runtime(**services_env))

    assert report["status"] == "succeeded", report["error"]
    assert any("pg_stat_activity" in warning for warning in report["warnings"])
    assert runtime is not None


def test_null_watermark_rows_are_counted_and_reported(items: Source) -> None:
    items.sql("UPDATE {t} SET updated_at = NULL WHERE id <= 7")

    report = replicate(_incremental(items))

    assert report["status"] == "succeeded"
    assert report["null_watermark_rows"] == 7
    assert any("NULL updated_at" in w for w in report["warnings"])
    assert items.target("SELECT COUNT(*) FROM {t}") == [(2993,)]
    # a full refresh picks them up
    assert replicate(items.options())["status"] == "succeeded"
    assert items.target("SELECT COUNT(*) FROM {t}") == [(3000,)]


def test_last_value_replaces_the_lower_bound_for_one_run(items: Source) -> None:
    assert replicate(_incremental(items))["status"] == "succeeded"
    report = replicate(_incremental(items, last_value="2024-01-01T00:49:00+00:00"))
    assert report["status"] == "succeeded"
    assert report["rows_extracted"] == 61  # 00:49:00 .. 00:50:00 inclusive
    assert _state(items).watermark.value == "2024-01-01T00:50:00+00:00"


def test_a_last_value_of_the_wrong_type_is_rejected_and_changes_nothing(items: Source) -> None:
    assert replicate(_incremental(items))["status"] == "succeeded"
    before = _state(items)
    report = replicate(_incremental(items, last_value="12345"))
    assert report["status"] == "failed"
    assert report["error"]["field"] == "last_value"
    assert _state(items).watermark == before.watermark


def test_a_second_run_on_a_locked_table_exits_locked_and_changes_nothing(items: Source) -> None:
    runtime = make_runtime()
    store: StateStore = runtime.state
    lease = store.acquire_lease(f"{items.schema}.items", "someone-else", 600)
    try:
        report = replicate(_incremental(items), runtime)
    finally:
        store.release_lease(lease)
    assert report["status"] == "locked"
    assert items.target_tables() == []
    assert _state(items).watermark is None


def test_an_expired_lease_of_a_crashed_run_is_taken_over(items: Source) -> None:
    runtime = make_runtime()
    runtime.state.acquire_lease(f"{items.schema}.items", "crashed-run", 0.001)
    report = replicate(_incremental(items), runtime)
    assert report["status"] == "succeeded", report["error"]


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_a_run_over_several_invocations_converges_and_swaps_only_at_the_end(items: Source, mode: str) -> None:
    runtime = make_runtime(PART_TARGET_ROWS="400")
    options = _incremental(items, batch_size=400) if mode == "incremental" else items.options(batch_size=400)
    if mode == "full":
        assert replicate(items.options(), runtime)["status"] == "succeeded"
        items.sql("UPDATE {t} SET label = 'v2'")
    # No time left at all: every invocation stops at its first part boundary.
    exhausted = Budget(remaining=lambda: 0.0, margin_seconds=1.0)
    statuses = []
    for _ in range(30):
        report = replicate(options, runtime, budget=exhausted)
        statuses.append(report["status"])
        if mode == "full" and report["status"] == "continued":
            # readers see the old table, whole, until the final replace; only an INSERT OVERWRITE
            # left running at the end of the invocation (checkpointed) may have committed since
            seen = items.target("SELECT COUNT(*), MIN(LABEL), MAX(LABEL) FROM {t}")
            running = (_state(items).checkpoint or {}).get("running") or {}
            committed = running.get("statement") == "overwrite" and seen == [(3000, "v2", "v2")]
            assert seen == [(3000, "v1", "v1")] or committed, (seen, running)
        if report["status"] != "continued":
            break
    assert statuses[-1] == "succeeded", statuses
    assert statuses.count("continued") >= 5
    assert _target_rows(items) == _source_rows(items)
    assert _state(items).checkpoint is None


def test_a_lease_is_renewed_during_a_long_run(items: Source) -> None:
    runtime = make_runtime(LEASE_SECONDS="30", PART_TARGET_ROWS="300")
    ticks = iter(range(0, 100_000, 20))  # every clock reading is 20 s later than the one before
    from aurora_batch.logic.replicate import TableReplication

    services = runtime.services()
    replication = TableReplication(
        items.options(batch_size=300), runtime.settings, services, clock=lambda: float(next(ticks))
    )
    renewals: list[float] = []
    renew = services.state.renew_lease

    def counting_renew(lease: Any, ttl: float) -> Any:
        renewals.append(ttl)
        return renew(lease, ttl)

    services.state.renew_lease = counting_renew  # type: ignore[method-assign]
    report = replication.run().to_dict()
    services.staging.close()
    assert report["status"] == "succeeded", report["error"]
    assert renewals, "a run longer than a third of its lease renews it"


def test_the_watermark_never_moves_backwards(items: Source) -> None:
    assert replicate(_incremental(items))["status"] == "succeeded"
    high = _state(items).watermark
    items.sql("UPDATE {t} SET updated_at = '2023-01-01 00:00:00+00' WHERE id = 1")
    report = replicate(_incremental(items, last_value="2022-01-01T00:00:00+00:00"))
    assert report["status"] == "succeeded"
    assert _state(items).watermark == high


def test_unreachable_postgres_fails_loudly_without_state_change(items: Source) -> None:
    assert replicate(_incremental(items))["status"] == "succeeded"
    before = _state(items)
    import hvac

    client = hvac.Client(url=items.stack.vault_addr, token=items.stack.vault_token)
    client.secrets.kv.v2.create_or_update_secret(
        path="aurora/unreachable",
        secret={"host": "127.0.0.1", "port": 1, "database": "x", "user": "x", "password": "not-the-password"},
    )
    report = replicate(_incremental(items), make_runtime(VAULT_SECRET_PATH_AURORA="secret/aurora/unreachable"))
    assert report["status"] == "failed"
    assert report["error"]["retryable"] is True
    assert "not-the-password" not in str(report)
    assert _state(items).watermark == before.watermark
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=1, dbname="x", user="x", password="x", connect_timeout=1)
