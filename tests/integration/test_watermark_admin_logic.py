"""Watermark admin actions against a real moto DynamoDB server: validation, dry runs, refusals
and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aurora_batch.adapters.state_store import (
    DEFAULT_AUDIT_RETENTION_SECONDS,
    AuditRecord,
    StateStore,
    Watermark,
)
from aurora_batch.errors import (
    AuditRecordExistsError,
    ConfigError,
    LeaseActiveError,
    LeaseLostError,
    WatermarkConflictError,
)
from aurora_batch.logic.watermark_admin import MAX_ACTOR_CHARS, MAX_REASON_CHARS, AdminRequest, handle_admin_request
from statestore_helpers import (  # fixtures are registered by importing them
    InterleavingClient,
    ManualClock,
    client_fixture,  # noqa: F401
    clock_fixture,  # noqa: F401
    create_state_table,
    state_table_fixture,  # noqa: F401
    store_fixture,  # noqa: F401
    table_fixture,  # noqa: F401
)

TTL = 60.0
ACTOR = "arn:aws:iam::123456789012:user/operator"


def admin(store: StateStore, clock: ManualClock, **event: Any) -> dict[str, Any]:
    """Run one admin event as the handler would, with the store's clock as `now`."""
    event.setdefault("actor", ACTOR)
    request = AdminRequest.from_event(event)
    return handle_admin_request(request, store, lambda: datetime.fromtimestamp(clock.now, UTC))


def with_watermark(store: StateStore, table: str, value: str, kind: str, column: str = "updated_at") -> None:
    lease = store.acquire_lease(table, "run-setup", TTL)
    store.advance_watermark(lease, Watermark(value, kind), column)
    store.release_lease(lease)


# --- request validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field", "received"),
    [
        ({"action": "get", "table": "public.t", "tabel": "x"}, "tabel", "'x'"),
        ({"action": "drop", "table": "public.t"}, "action", "'drop'"),
        ({"action": "set", "table": "public.t", "dry_run": "yes"}, "dry_run", "'yes'"),
        ({"action": "set", "table": "public.t", "value": 1.5}, "value", "1.5"),
        ({"action": "set", "table": "public.t", "type": "bigint"}, "type", "'bigint'"),
        ({"action": "get", "table": ".t"}, "table", "'.t'"),
        ({"table": "public.t"}, "action", "(missing)"),
    ],
)
def test_invalid_events_name_the_field_and_value(event: dict[str, Any], field: str, received: str) -> None:
    with pytest.raises(ConfigError) as refused:
        AdminRequest.from_event(event)
    assert refused.value.fields["field"] == field
    assert refused.value.fields["value"] == received
    assert field in str(refused.value)


def test_a_big_integer_value_can_be_sent_as_a_json_number() -> None:
    request = AdminRequest.from_event({"action": "set", "table": "orders", "value": 2**63 - 1})
    assert request.value == 2**63 - 1
    assert request.table == "public.orders"


@pytest.mark.parametrize("action", ["set", "reset", "unlock"])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_mutations_require_a_reason_and_write_nothing(
    store: StateStore, clock: ManualClock, table: str, action: str, reason: str | None
) -> None:
    with_watermark(store, table, "5", "integer")
    version = store.get(table).version
    event: dict[str, Any] = {"action": action, "table": table, "value": "9"}
    if reason is not None:
        event["reason"] = reason
    with pytest.raises(ConfigError) as refused:
        admin(store, clock, **event)
    assert refused.value.fields["field"] == "reason"
    assert store.get(table).version == version
    assert store.audit_log(table) == []


def test_mutations_require_an_actor(store: StateStore, clock: ManualClock, table: str) -> None:
    with pytest.raises(ConfigError) as refused:
        admin(store, clock, action="reset", table=table, reason="r", actor=" ")
    assert refused.value.fields["field"] == "actor"


# --- get and list ------------------------------------------------------------------------------


def test_get_shows_state_runs_and_audit(store: StateStore, clock: ManualClock, table: str) -> None:
    with_watermark(store, table, "2024-01-01T00:00:00Z", "timestamptz")
    store.record_run(table, {"run_id": "run-1", "status": "succeeded", "started_at": "2024-01-01T00:00:00Z"})
    admin(store, clock, action="reset", table=table, reason="rebuild")
    result = admin(store, clock, action="get", table=table, limit=5)
    assert result["state"]["full_reload_requested"] is True
    assert result["state"]["watermark"] is None
    assert result["state"]["last_run"]["run_id"] == "run-1"
    assert [run["run_id"] for run in result["runs"]] == ["run-1"]
    assert [entry["action"] for entry in result["audit"]] == ["reset"]


def test_list_shows_every_table(client: Any, clock: ManualClock) -> None:
    store = StateStore(create_state_table(client), client, clock=clock)
    with_watermark(store, "public.a", "1", "integer", column="id")
    lease = store.acquire_lease("public.b", "run-7", TTL)
    result = admin(store, clock, action="list")
    assert [entry["table"] for entry in result["tables"]] == ["public.a", "public.b"]
    assert result["tables"][0]["watermark"] == "1"
    assert result["tables"][1]["lease_owner"] == "run-7"
    assert result["tables"][1]["lease_live"] is True
    assert result["tables"][1]["lease_expires_at"] == lease.expires_at


# --- set ---------------------------------------------------------------------------------------


def test_set_writes_the_value_and_an_audit_record(
    store: StateStore, clock: ManualClock, table: str, client: Any, state_table: str
) -> None:
    with_watermark(store, table, "2024-03-01 00:00:00", "timestamp")
    result = admin(store, clock, action="set", table=table, value="2024-02-01 12:30:00.000001", reason="replay Feb")
    state = store.get(table)
    assert state.watermark == Watermark("2024-02-01T12:30:00.000001", "timestamp")  # backwards is allowed
    assert result["changed"] is True
    assert result["old"] == {"watermark": "2024-03-01T00:00:00"}
    assert result["new"] == {"watermark": "2024-02-01T12:30:00.000001"}
    (record,) = store.audit_log(table)
    assert record == {
        "request_id": result["audit_id"],
        "table": table,
        "actor": ACTOR,
        "action": "set",
        "reason": "replay Feb",
        "at": datetime.fromtimestamp(clock.now, UTC).isoformat(),
        "old": {"watermark": "2024-03-01T00:00:00"},
        "new": {"watermark": "2024-02-01T12:30:00.000001"},
    }
    audit_items = client.query(
        TableName=state_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :audit)",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{table}"}, ":audit": {"S": "AUDIT#"}},
    )["Items"]
    assert int(audit_items[0]["expires_at"]["N"]) == int(clock.now + DEFAULT_AUDIT_RETENTION_SECONDS)


def test_set_checks_the_value_against_the_stored_type(store: StateStore, clock: ManualClock, table: str) -> None:
    with_watermark(store, table, "100", "integer", column="id")
    with pytest.raises(ConfigError) as refused:
        admin(store, clock, action="set", table=table, value="2024-01-01", reason="r")
    assert refused.value.fields["field"] == "value"
    with pytest.raises(ConfigError) as mismatch:
        admin(store, clock, action="set", table=table, value="5", type="date", reason="r")
    assert mismatch.value.fields["field"] == "type"
    admin(store, clock, action="set", table=table, value=2**53 + 1, reason="r")
    assert store.get(table).watermark == Watermark(str(2**53 + 1), "integer")


def test_set_on_a_new_table_needs_type_and_column(store: StateStore, clock: ManualClock, table: str) -> None:
    with pytest.raises(ConfigError) as no_type:
        admin(store, clock, action="set", table=table, value="2024-01-01", reason="r")
    assert no_type.value.fields["field"] == "type"
    with pytest.raises(ConfigError) as no_column:
        admin(store, clock, action="set", table=table, value="2024-01-01", type="date", reason="r")
    assert no_column.value.fields["field"] == "column"
    result = admin(store, clock, action="set", table=table, value="2024-01-01", type="date", column="day", reason="r")
    assert result["new"] == {"watermark": "2024-01-01", "watermark_type": "date", "watermark_column": "day"}
    state = store.get(table)
    assert (state.watermark, state.watermark_column) == (Watermark("2024-01-01", "date"), "day")


@pytest.mark.parametrize(
    ("kind", "future"),
    [
        ("timestamp", timedelta(microseconds=1)),
        ("timestamptz", timedelta(seconds=1)),
        ("date", timedelta(days=1)),
    ],
)
def test_set_into_the_future_needs_force(
    store: StateStore, clock: ManualClock, table: str, kind: str, future: timedelta
) -> None:
    now = datetime.fromtimestamp(clock.now, UTC)
    with_watermark(store, table, written_as(kind, datetime(2000, 1, 1, tzinfo=UTC)), kind)
    ahead = written_as(kind, now + future)
    with pytest.raises(ConfigError, match="future") as refused:
        admin(store, clock, action="set", table=table, value=ahead, reason="r")
    assert refused.value.fields["field"] == "value"
    admin(store, clock, action="set", table=table, value=written_as(kind, now), reason="now is not the future")
    admin(store, clock, action="set", table=table, value=ahead, reason="r", force=True)
    assert store.get(table).watermark == Watermark(ahead, kind)


def written_as(kind: str, moment: datetime) -> str:
    """An aware UTC moment written as a value of a watermark type."""
    if kind == "date":
        return moment.date().isoformat()
    return moment.isoformat() if kind == "timestamptz" else moment.replace(tzinfo=None).isoformat()


def test_set_clears_checkpoint_and_reload_request(store: StateStore, clock: ManualClock, table: str) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    admin(store, clock, action="reset", table=table, reason="r")
    lease = store.acquire_lease(table, "run-1", TTL)
    store.save_checkpoint(lease, {"run_id": "run-1", "upper_bound": "50"})
    store.release_lease(lease)
    result = admin(store, clock, action="set", table=table, value="20", type="integer", reason="r")
    assert result["old"]["checkpoint_run_id"] == "run-1"
    state = store.get(table)
    assert (state.checkpoint, state.full_reload_requested) == (None, False)
    assert state.watermark == Watermark("20", "integer")


def test_set_and_reset_are_refused_while_a_run_holds_the_lease(
    store: StateStore, clock: ManualClock, table: str
) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    store.acquire_lease(table, "run-live", TTL)
    version = store.get(table).version
    for event in ({"action": "set", "value": "1"}, {"action": "reset"}):
        with pytest.raises(LeaseActiveError) as refused:
            admin(store, clock, table=table, reason="r", **event)
        assert refused.value.fields["owner"] == "run-live"
    assert store.get(table).version == version
    assert store.audit_log(table) == []


# --- dry run --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "old", "new"),
    [
        ({"action": "set", "value": "99"}, {"watermark": "10"}, {"watermark": "99"}),
        (
            {"action": "reset"},
            {"watermark": "10", "watermark_type": "integer", "full_reload_requested": False},
            {"watermark": None, "watermark_type": None, "full_reload_requested": True},
        ),
        (
            {"action": "unlock"},
            {"lease_owner": "run-dead", "lease_expires_at": ManualClock().now + 1},
            {"lease_owner": None, "lease_expires_at": None},
        ),
    ],
)
def test_dry_run_reports_the_change_and_writes_nothing(
    store: StateStore,
    clock: ManualClock,
    table: str,
    client: Any,
    state_table: str,
    event: dict[str, Any],
    old: dict[str, Any],
    new: dict[str, Any],
) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    store.acquire_lease(table, "run-dead", 1)
    clock.advance(2)
    before = raw_items(client, state_table, table)
    result = admin(store, clock, table=table, reason="r", dry_run=True, **event)
    assert (result["dry_run"], result["changed"], result["old"], result["new"]) == (True, True, old, new)
    assert result["audit_id"] is None
    assert raw_items(client, state_table, table) == before


def raw_items(client: Any, state_table: str, table: str) -> list[dict[str, Any]]:
    """Every item of the table: its own partition and its audit partition."""
    items: list[dict[str, Any]] = []
    for partition in (f"TABLE#{table}", f"AUDIT#{table}"):
        items += client.query(
            TableName=state_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
            ConsistentRead=True,
        )["Items"]
    return items


def test_dry_run_still_reports_refusals(store: StateStore, clock: ManualClock, table: str) -> None:
    store.acquire_lease(table, "run-live", TTL)
    with pytest.raises(LeaseActiveError):
        admin(store, clock, action="unlock", table=table, reason="r", dry_run=True)


# --- reset and unlock -----------------------------------------------------------------------------


def test_reset_makes_the_next_run_a_full_reload(store: StateStore, clock: ManualClock, table: str) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    lease = store.acquire_lease(table, "run-1", TTL)
    store.save_checkpoint(lease, {"run_id": "run-1"})
    store.release_lease(lease)
    admin(store, clock, action="reset", table=table, reason="target rebuilt")
    state = store.get(table)
    assert (state.watermark, state.checkpoint, state.full_reload_requested) == (None, None, True)
    lease = store.acquire_lease(table, "run-2", TTL)
    store.advance_watermark(lease, Watermark("3", "integer"), "id")  # lower than before: allowed after reset
    store.clear_full_reload_request(lease)
    assert store.get(table).full_reload_requested is False


def test_unlock_breaks_only_an_expired_lease_unless_forced(store: StateStore, clock: ManualClock, table: str) -> None:
    live = store.acquire_lease(table, "run-live", TTL)
    with pytest.raises(LeaseActiveError, match="force") as refused:
        admin(store, clock, action="unlock", table=table, reason="stuck?")
    assert refused.value.fields["owner"] == "run-live"
    assert store.get(table).lease_owner == "run-live"
    result = admin(store, clock, action="unlock", table=table, reason="run is hung", force=True)
    assert result["old"]["lease_owner"] == "run-live"
    assert store.get(table).lease_owner is None
    with pytest.raises(LeaseLostError):
        store.renew_lease(live, TTL)
    store.acquire_lease(table, "run-dead", 1)
    clock.advance(2)
    admin(store, clock, action="unlock", table=table, reason="crashed run")
    assert store.get(table).lease_owner is None
    assert [entry["reason"] for entry in store.audit_log(table)] == ["crashed run", "run is hung"]


def test_unlock_without_a_lease_changes_nothing(store: StateStore, clock: ManualClock, table: str) -> None:
    result = admin(store, clock, action="unlock", table=table, reason="r")
    assert (result["changed"], result["audit_id"]) == (False, None)
    assert store.audit_log(table) == []


# --- atomicity of change and audit ----------------------------------------------------------


def test_a_concurrent_change_cancels_both_the_change_and_its_audit(
    store: StateStore, state_table: str, client: Any, clock: ManualClock, table: str
) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    racing = InterleavingClient(
        client, "transact_write_items", lambda: with_watermark(store, table, "11", "integer", column="id")
    )
    audit = AuditRecord(actor=ACTOR, action="set", reason="r", at=datetime.fromtimestamp(clock.now, UTC))
    with pytest.raises(WatermarkConflictError):
        StateStore(state_table, racing, clock=clock).admin_set_watermark(table, Watermark("1", "integer"), None, audit)
    assert racing.interleaved
    assert store.get(table).watermark == Watermark("11", "integer")
    assert store.audit_log(table) == []


def test_a_stale_expected_version_is_refused(store: StateStore, clock: ManualClock, table: str) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    read_version = store.get(table).version
    with_watermark(store, table, "12", "integer", column="id")
    audit = AuditRecord(actor=ACTOR, action="reset", reason="r", at=datetime.fromtimestamp(clock.now, UTC))
    with pytest.raises(WatermarkConflictError):
        store.admin_reset(table, audit, expected_version=read_version)
    assert store.get(table).watermark == Watermark("12", "integer")


# --- append-only audit and bounded input ------------------------------------------------------


def test_an_audit_record_is_never_overwritten(store: StateStore, clock: ManualClock, table: str) -> None:
    with_watermark(store, table, "10", "integer", column="id")
    first = AuditRecord(actor=ACTOR, action="set", reason="first", at=datetime.fromtimestamp(clock.now, UTC))
    store.admin_set_watermark(table, Watermark("5", "integer"), None, first)
    version = store.get(table).version
    # The same id at the same moment: the same audit key.
    again = AuditRecord(
        actor="arn:aws:iam::123456789012:user/other",
        action="reset",
        reason="second",
        at=first.at,
        request_id=first.request_id,
    )

    with pytest.raises(AuditRecordExistsError) as refused:
        store.admin_reset(table, again)

    assert refused.value.fields["request_id"] == first.request_id
    assert store.get(table).version == version  # the change is cancelled with its audit
    assert store.get(table).watermark == Watermark("5", "integer")
    ((record),) = store.audit_log(table)
    assert (record["actor"], record["action"], record["reason"]) == (ACTOR, "set", "first")


@pytest.mark.parametrize(("field", "length"), [("reason", MAX_REASON_CHARS + 1), ("actor", MAX_ACTOR_CHARS + 1)])
def test_reason_and_actor_are_bounded(
    store: StateStore, clock: ManualClock, table: str, field: str, length: int
) -> None:
    with pytest.raises(ConfigError) as refused:
        admin(store, clock, action="reset", table=table, **{"reason": "r", field: "x" * length})
    assert refused.value.fields["field"] == field
    assert store.get(table).version == 0
    assert store.audit_log(table) == []
