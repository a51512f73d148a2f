"""State keys on the local stack's DynamoDB (moto): schema `a.b` with table `c` and schema `a` with
table `b.c` no longer share a lease, a watermark or a history; state written under the former,
ambiguous key is read through and moved (a conditional copy then delete) by the next lease or
admin change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aurora_batch.adapters.state_store import StateStore
from aurora_batch.model import TableRef
from aurora_batch.ports import AuditRecord
from aurora_batch.watermark import Watermark
from statestore_helpers import (  # fixtures are registered by importing them
    client_fixture,  # noqa: F401
    clock_fixture,  # noqa: F401
    state_table_fixture,  # noqa: F401
    store_fixture,  # noqa: F401
)

TTL = 60.0


def _refs() -> tuple[TableRef, TableRef]:
    suffix = uuid.uuid4().hex[:8]
    return TableRef(f"a{suffix}.b", "c"), TableRef(f"a{suffix}", "b.c")


def _item(client: Any, state_table: str, key_name: str, sort_key: str = "STATE") -> dict[str, Any] | None:
    response = client.get_item(
        TableName=state_table, Key={"pk": {"S": f"TABLE#{key_name}"}, "sk": {"S": sort_key}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def _put_legacy_state(client: Any, state_table: str, legacy: str, watermark: int) -> None:
    client.put_item(
        TableName=state_table,
        Item={
            "pk": {"S": f"TABLE#{legacy}"},
            "sk": {"S": "STATE"},
            "watermark": {"S": str(watermark)},
            "watermark_type": {"S": "integer"},
            "watermark_column": {"S": "id"},
            "version": {"N": "3"},
        },
    )


def test_a_dotted_schema_and_a_dotted_table_keep_separate_state(store: StateStore) -> None:
    dotted_schema, dotted_table = _refs()
    assert dotted_schema.legacy_key == dotted_table.legacy_key  # they collided before

    lease = store.acquire_lease(dotted_schema.qualified, "run-1", TTL)
    store.advance_watermark(lease, Watermark("41", "integer"), "id")
    other = store.acquire_lease(dotted_table.qualified, "run-2", TTL)  # not held by run-1's lease

    assert store.get(dotted_schema.qualified).watermark == Watermark("41", "integer")
    assert store.get(dotted_table.qualified).watermark is None
    store.record_run(dotted_table.qualified, {"run_id": "run-2", "status": "succeeded"})
    assert store.run_history(dotted_schema.qualified) == []
    assert [r["run_id"] for r in store.run_history(dotted_table.qualified)] == ["run-2"]
    store.release_lease(lease)
    store.release_lease(other)


def test_legacy_state_is_read_through_then_moved_by_the_next_lease(
    store: StateStore, client: Any, state_table: str
) -> None:
    _, dotted_table = _refs()
    legacy = dotted_table.legacy_key
    _put_legacy_state(client, state_table, legacy, 7)

    before = store.get(dotted_table.qualified)  # read through, nothing written
    assert before.watermark == Watermark("7", "integer")
    assert _item(client, state_table, dotted_table.qualified) is None

    lease = store.acquire_lease(dotted_table.qualified, "run-1", TTL)

    assert _item(client, state_table, legacy) is None
    moved = store.get(dotted_table.qualified)
    assert moved.watermark == Watermark("7", "integer")
    assert moved.watermark_column == "id"
    assert moved.lease_owner == "run-1"
    store.advance_watermark(lease, Watermark("9", "integer"), "id")  # never below the moved value
    assert store.get(dotted_table.qualified).watermark == Watermark("9", "integer")


def test_legacy_state_is_moved_by_an_admin_change(store: StateStore, client: Any, state_table: str) -> None:
    dotted_schema, _ = _refs()
    _put_legacy_state(client, state_table, dotted_schema.legacy_key, 5)
    audit = AuditRecord(request_id=uuid.uuid4().hex, actor="tester", action="set", reason="test", at=datetime.now(UTC))

    store.admin_set_watermark(dotted_schema.qualified, Watermark("3", "integer"), "id", audit)

    assert _item(client, state_table, dotted_schema.legacy_key) is None
    assert store.get(dotted_schema.qualified).watermark == Watermark("3", "integer")
    assert [entry["action"] for entry in store.audit_log(dotted_schema.qualified)] == ["set"]


def test_history_written_under_the_legacy_key_is_still_shown(store: StateStore, client: Any, state_table: str) -> None:
    _, dotted_table = _refs()
    client.put_item(
        TableName=state_table,
        Item={
            "pk": {"S": f"TABLE#{dotted_table.legacy_key}"},
            "sk": {"S": "RUN#2020-01-01T00:00:00.000000Z#old"},
            "report": {"M": {"run_id": {"S": "old"}, "status": {"S": "succeeded"}}},
        },
    )
    store.record_run(dotted_table.qualified, {"run_id": "new", "status": "succeeded"})

    assert [r["run_id"] for r in store.run_history(dotted_table.qualified)] == ["new", "old"]


def test_an_ordinary_name_keeps_its_key(store: StateStore, client: Any, state_table: str) -> None:
    name = f"public.t_{uuid.uuid4().hex[:8]}"
    lease = store.acquire_lease(name, "run-1", TTL)

    assert _item(client, state_table, name) is not None
    store.release_lease(lease)
