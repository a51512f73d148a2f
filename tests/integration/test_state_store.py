"""StateStore against a real moto DynamoDB server: leases, watermarks, history, checkpoints."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aurora_batch.adapters.state_store import (
    DEFAULT_MAX_RUN_HISTORY,
    DEFAULT_RUN_RETENTION_SECONDS,
    StateStore,
    Watermark,
)
from aurora_batch.errors import (
    ConfigError,
    LeaseLostError,
    LockHeldError,
    StateError,
    StateTableError,
    WatermarkConflictError,
)
from statestore_helpers import (  # fixtures are registered by importing them
    InterleavingClient,
    ManualClock,
    atomic_moto_endpoint,
    client_fixture,  # noqa: F401
    clock_fixture,  # noqa: F401
    create_state_table,
    dynamodb_client,
    state_table_fixture,  # noqa: F401
    store_fixture,  # noqa: F401
    table_fixture,  # noqa: F401
)

TTL = 60.0


def raw_item(client: Any, state_table: str, table: str, sort_key: str) -> dict[str, Any]:
    response = client.get_item(
        TableName=state_table, Key={"pk": {"S": f"TABLE#{table}"}, "sk": {"S": sort_key}}, ConsistentRead=True
    )
    item: dict[str, Any] = response["Item"]
    return item


# --- reads --------------------------------------------------------------------------------


def test_unknown_table_has_empty_state(store: StateStore, table: str) -> None:
    state = store.get(table)
    assert (state.version, state.watermark, state.lease_owner, state.checkpoint) == (0, None, None, None)
    assert not state.full_reload_requested


def test_table_name_without_schema_means_public(store: StateStore) -> None:
    name = f"t_{uuid.uuid4().hex[:10]}"
    lease = store.acquire_lease(name, "run-1", TTL)
    assert lease.table == f"public.{name}"
    assert store.get(f"public.{name}").lease_owner == "run-1"


# --- lease ----------------------------------------------------------------------------------


def run_together(count: int, action: Callable[[int], None]) -> None:
    """Run action(0..count-1) on `count` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        barrier.wait()
        action(index)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def race_for_lease(store: StateStore, table: str, contenders: int) -> tuple[list[str], list[LockHeldError]]:
    winners: list[str] = []
    refused: list[LockHeldError] = []

    def contend(index: int) -> None:
        try:
            store.acquire_lease(table, f"run-{index}", TTL)
        except LockHeldError as exc:
            refused.append(exc)  # list.append is atomic under the GIL
            return
        winners.append(f"run-{index}")

    run_together(contenders, contend)
    return winners, refused


@pytest.fixture(scope="module")
def atomic_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateStore]:
    """A store on a moto server that, like DynamoDB, applies each conditional write atomically
    (the shared stack's moto does not), for tests that race real threads."""
    with atomic_moto_endpoint(tmp_path_factory.mktemp("moto")) as endpoint:
        client = dynamodb_client(endpoint)
        yield StateStore(create_state_table(client), client, clock=ManualClock())


def test_racing_owners_exactly_one_wins(atomic_store: StateStore) -> None:
    store = atomic_store
    contenders = 8
    for _ in range(5):
        table = f"public.race_{uuid.uuid4().hex[:10]}"
        winners, refused = race_for_lease(store, table, contenders)
        assert len(winners) == 1
        assert len(refused) == contenders - 1
        assert {exc.fields["owner"] for exc in refused} == set(winners)
        assert store.get(table).lease_owner == winners[0]


def test_held_lease_refuses_with_holder_and_expiry(store: StateStore, table: str, clock: ManualClock) -> None:
    store.acquire_lease(table, "run-1", TTL)
    with pytest.raises(LockHeldError) as refused:
        store.acquire_lease(table, "run-2", TTL)
    assert refused.value.fields == {"table": table, "owner": "run-1", "expires_at": clock.now + TTL}
    assert refused.value.retryable


def test_same_owner_cannot_hold_twice(store: StateStore, table: str) -> None:
    # An async Lambda event delivered twice runs twice with the same run_id.
    store.acquire_lease(table, "run-1", TTL)
    with pytest.raises(LockHeldError):
        store.acquire_lease(table, "run-1", TTL)


def test_expired_lease_is_taken_over_and_the_old_holder_loses_it(
    store: StateStore, table: str, clock: ManualClock
) -> None:
    crashed = store.acquire_lease(table, "run-1", TTL)
    clock.advance(TTL - 1)
    with pytest.raises(LockHeldError):
        store.acquire_lease(table, "run-2", TTL)
    clock.advance(1)  # expiry is exclusive: at expires_at the lease is gone
    successor = store.acquire_lease(table, "run-2", TTL)
    assert store.get(table).lease_owner == "run-2"
    with pytest.raises(LeaseLostError):
        store.renew_lease(crashed, TTL)
    with pytest.raises(LeaseLostError):
        store.advance_watermark(crashed, Watermark("5", "integer"), "id")
    with pytest.raises(LeaseLostError):
        store.save_checkpoint(crashed, {"run_id": "run-1"})
    store.release_lease(crashed)  # no error, and the successor keeps its lease
    assert store.get(table).lease_owner == "run-2"
    store.advance_watermark(successor, Watermark("5", "integer"), "id")


def test_renew_extends_and_an_expired_lease_cannot_be_renewed(
    store: StateStore, table: str, clock: ManualClock
) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    clock.advance(TTL / 2)
    renewed = store.renew_lease(lease, TTL)
    assert renewed.expires_at == clock.now + TTL
    clock.advance(TTL / 2 + 1)  # past the first expiry, within the renewed one
    with pytest.raises(LockHeldError):
        store.acquire_lease(table, "run-2", TTL)
    clock.advance(TTL)
    with pytest.raises(LeaseLostError):
        store.renew_lease(renewed, TTL)


def test_release_frees_the_table_and_is_idempotent(store: StateStore, table: str) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    store.release_lease(lease)
    store.release_lease(lease)
    assert store.get(table).lease_owner is None
    store.acquire_lease(table, "run-2", TTL)


# --- watermark --------------------------------------------------------------------------------


def test_watermark_is_monotonic(store: StateStore, table: str) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    store.advance_watermark(lease, Watermark("2024-01-02", "date"), "updated_on")
    with pytest.raises(WatermarkConflictError) as backwards:
        store.advance_watermark(lease, Watermark("2024-01-01", "date"), "updated_on")
    assert backwards.value.fields["current"] == "2024-01-02"
    assert store.get(table).watermark == Watermark("2024-01-02", "date")
    version = store.get(table).version
    store.advance_watermark(lease, Watermark("2024-01-02", "date"), "updated_on")  # equal is allowed
    store.advance_watermark(lease, Watermark("2024-01-03", "date"), "updated_on")
    state = store.get(table)
    assert state.watermark == Watermark("2024-01-03", "date")
    assert state.watermark_column == "updated_on"
    assert state.version == version + 2


@pytest.mark.parametrize(
    ("kind", "lower", "higher"),
    [
        ("integer", "9007199254740992", "9007199254740993"),  # 2**53 and 2**53 + 1: equal as floats
        ("integer", "9", "10"),  # "10" < "9" as strings
        ("timestamp", "2024-01-01 00:00:00.999999", "2024-01-01 00:00:01"),
        ("timestamp", "2024-01-01T09:00:00", "2024-01-01 10:00:00"),  # 'T' sorts after ' '
        ("timestamptz", "2024-01-01T10:00:00+02:00", "2024-01-01T09:00:00.000001+00:00"),
        ("date", "2023-12-31", "2024-01-01"),
    ],
)
def test_watermark_order_is_exact(store: StateStore, table: str, kind: str, lower: str, higher: str) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    store.advance_watermark(lease, Watermark(higher, kind), "c")
    with pytest.raises(WatermarkConflictError):
        store.advance_watermark(lease, Watermark(lower, kind), "c")
    assert store.get(table).watermark == Watermark(higher, kind)


def test_watermark_refuses_a_changed_type_or_column(store: StateStore, table: str) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    store.advance_watermark(lease, Watermark("10", "integer"), "id")
    with pytest.raises(WatermarkConflictError, match="type"):
        store.advance_watermark(lease, Watermark("2024-01-01", "date"), "id")
    with pytest.raises(WatermarkConflictError, match="column"):
        store.advance_watermark(lease, Watermark("11", "integer"), "other_id")
    assert store.get(table).watermark == Watermark("10", "integer")


def test_advance_rereads_after_losing_to_a_lease_renewal(
    store: StateStore, state_table: str, client: Any, clock: ManualClock, table: str
) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    racing = InterleavingClient(client, "update_item", lambda: store.renew_lease(lease, TTL))
    StateStore(state_table, racing, clock=clock).advance_watermark(lease, Watermark("7", "integer"), "id")
    assert racing.interleaved
    assert store.get(table).watermark == Watermark("7", "integer")


def test_advance_loses_to_a_concurrent_higher_watermark(
    store: StateStore, state_table: str, client: Any, clock: ManualClock, table: str
) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    store.advance_watermark(lease, Watermark("5", "integer"), "id")
    racing = InterleavingClient(
        client, "update_item", lambda: store.advance_watermark(lease, Watermark("20", "integer"), "id")
    )
    # 10 >= 5 when read, but 20 was written before our conditional write: it must not win.
    with pytest.raises(WatermarkConflictError):
        StateStore(state_table, racing, clock=clock).advance_watermark(lease, Watermark("10", "integer"), "id")
    assert racing.interleaved
    assert store.get(table).watermark == Watermark("20", "integer")


def test_concurrent_advances_end_at_the_maximum(atomic_store: StateStore, table: str) -> None:
    store = atomic_store
    lease = store.acquire_lease(table, "run-1", TTL)
    values = [2**60 + step for step in (3, 1, 7, 5, 2, 6, 4, 0)]
    advanced: list[int] = []
    refused: list[int] = []

    def advance(index: int) -> None:
        try:
            store.advance_watermark(lease, Watermark(str(values[index]), "integer"), "id")
        except WatermarkConflictError:
            refused.append(values[index])
        else:
            advanced.append(values[index])

    run_together(len(values), advance)
    assert sorted(advanced + refused) == sorted(values)
    assert store.get(table).watermark == Watermark(str(max(advanced)), "integer")
    assert max(values) in advanced


# --- checkpoint and full-reload flag ------------------------------------------------------


def test_checkpoint_round_trips_exactly_and_clears(store: StateStore, table: str) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    checkpoint = {
        "run_id": "run-1",
        "upper_bound": "2024-01-01T00:00:00",
        "resume_after": 2**63 - 1,
        "ratio": 0.1,
        "parts": [{"index": 0, "key": "p/0.parquet", "rows": 10}, {"index": 1, "key": "", "rows": 0}],
        "done": False,
    }
    store.save_checkpoint(lease, checkpoint)
    assert store.get(table).checkpoint == checkpoint
    store.save_checkpoint(lease, None)
    assert store.get(table).checkpoint is None


def test_full_reload_request_is_cleared_under_the_lease(store: StateStore, table: str) -> None:
    lease = store.acquire_lease(table, "run-1", TTL)
    store.clear_full_reload_request(lease)
    assert store.get(table).full_reload_requested is False
    store.release_lease(lease)
    with pytest.raises(LeaseLostError):
        store.clear_full_reload_request(lease)


# --- run reports ----------------------------------------------------------------------------


def report(run_id: str, started_at: str, status: str = "succeeded") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": status,
        "started_at": started_at,
        "finished_at": started_at,
        "counts": {"rows_extracted": 2**53 + 1, "bytes_staged": 1024},
        "phase_seconds": {"extract": 1.25},
        "error": None,
    }


def test_record_run_sets_last_run_and_history_with_ttl(
    store: StateStore, table: str, client: Any, state_table: str, clock: ManualClock
) -> None:
    first = report("run-1", "2024-01-01T00:00:00+00:00")
    second = report("run-2", "2024-01-01T01:00:00+00:00", status="failed")
    store.record_run(table, first)
    store.record_run(table, second)
    assert store.get(table).last_run == second
    assert store.run_history(table) == [second, first]
    assert store.run_history(table, limit=1) == [second]
    history_key = "RUN#2024-01-01T01:00:00.000000Z#run-2"
    item = raw_item(client, state_table, table, history_key)
    assert int(item["expires_at"]["N"]) == int(clock.now + DEFAULT_RUN_RETENTION_SECONDS)


def test_history_is_bounded_keeping_the_newest(store: StateStore, table: str) -> None:
    runs = DEFAULT_MAX_RUN_HISTORY + 3
    for minute in range(runs):
        store.record_run(table, report(f"run-{minute:03d}", f"2024-01-01T00:{minute // 60:02d}:{minute % 60:02d}"))
    history = store.run_history(table, limit=1000)
    assert len(history) == DEFAULT_MAX_RUN_HISTORY
    assert [entry["run_id"] for entry in history] == [f"run-{m:03d}" for m in reversed(range(3, runs))]


def test_a_late_report_of_an_older_run_does_not_replace_last_run(store: StateStore, table: str) -> None:
    newer = report("run-2", "2024-01-01T01:00:00Z")
    store.record_run(table, newer)
    store.record_run(table, report("run-1", "2024-01-01T00:00:00Z", status="failed"))
    store.record_run(table, report("run-3", "2024-01-01T02:00:00Z", status="locked"))
    assert store.get(table).last_run == newer
    assert [entry["run_id"] for entry in store.run_history(table)] == ["run-3", "run-2", "run-1"]


def test_a_report_needs_a_run_id(store: StateStore, table: str) -> None:
    with pytest.raises(ConfigError) as refused:
        store.record_run(table, {"status": "succeeded"})
    assert refused.value.fields["field"] == "run_id"


# --- runs in progress and listing -----------------------------------------------------------


def test_runs_in_progress_cover_live_leases_and_checkpoints(store: StateStore, clock: ManualClock) -> None:
    live, expired, checkpointed, finished = (f"public.rip_{uuid.uuid4().hex[:10]}" for _ in range(4))
    store.acquire_lease(live, "run-live", TTL)
    store.acquire_lease(expired, "run-dead", 1)
    paused = store.acquire_lease(checkpointed, "run-paused", TTL)
    store.save_checkpoint(paused, {"run_id": "run-paused"})
    store.release_lease(paused)
    resumed = store.acquire_lease(checkpointed, "run-resumer", TTL)
    store.release_lease(store.acquire_lease(finished, "run-done", TTL))
    clock.advance(2)
    in_progress = store.runs_in_progress()
    assert in_progress[live] == {"run-live"}
    assert in_progress[checkpointed] == {"run-paused", "run-resumer"}
    assert expired not in in_progress
    assert finished not in in_progress
    store.release_lease(resumed)
    assert store.runs_in_progress()[checkpointed] == {"run-paused"}


def test_list_returns_every_table_state_sorted(client: Any, clock: ManualClock) -> None:
    store = StateStore(create_state_table(client), client, clock=clock)
    names = sorted(f"public.list_{i}" for i in range(3))
    for name in reversed(names):
        lease = store.acquire_lease(name, "run-1", TTL)
        store.advance_watermark(lease, Watermark("1", "integer"), "id")
        store.record_run(name, report("run-1", "2024-01-01T00:00:00Z"))
    states = store.list()
    assert [state.table for state in states] == names
    assert all(state.watermark == Watermark("1", "integer") for state in states)


# --- errors from DynamoDB -------------------------------------------------------------------


def test_missing_dynamodb_table_is_a_permanent_state_table_error(client: Any, clock: ManualClock) -> None:
    store = StateStore(f"absent-{uuid.uuid4().hex[:8]}", client, clock=clock)
    with pytest.raises(StateTableError) as refused:
        store.get("public.orders")
    assert not refused.value.retryable
    assert refused.value.fields["code"] == "ResourceNotFoundException"


def test_unreachable_endpoint_is_a_retryable_state_error(clock: ManualClock) -> None:
    with socket_port_closed() as port:
        store = StateStore("state", dynamodb_client(f"http://127.0.0.1:{port}"), clock=clock)
        with pytest.raises(StateError) as failed:
            store.get("public.orders")
    assert failed.value.retryable
    assert type(failed.value) is StateError


@contextlib.contextmanager
def socket_port_closed() -> Iterator[int]:
    """A loopback port on which nothing listens (bound but not listening, so nobody else takes it)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port: int = bound.getsockname()[1]
        yield port
