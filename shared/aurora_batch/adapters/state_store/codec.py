"""How the state is stored in DynamoDB: item keys, and Python values <-> attribute values.

One partition per source table (`TABLE#<schema>.<table>`, see state_schema), the table named by
`TableRef.qualified`: a schema or table name holding a dot or a quote is double-quoted
(`TABLE#"a.b".c`, `TABLE#a."b.c"`), so no two tables share a partition. Ordinary names are
written as before. Such a table's state written under the former, ambiguous key
(`TABLE#a.b.c`) is read through, and moved to the new key by the next lease or admin change
(`StateTable._claim_legacy_state`).

  STATE                       watermark, lease, last run, checkpoint, version
  RUN#<started_at>#<run_id>   one run report each, TTL, at most `max_run_history` kept
  AUDIT#<at>#<request_id>     one admin change each, TTL
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from aurora_batch.errors import AuroraBatchError, ConfigError, StateTableError
from aurora_batch.model import TableRef
from aurora_batch.ports import TableState
from aurora_batch.state_schema import PARTITION_KEY, SORT_KEY
from aurora_batch.watermark import Watermark

STATE_SORT_KEY = "STATE"
RUN_PREFIX = "RUN#"
AUDIT_PREFIX = "AUDIT#"
TABLE_PREFIX = "TABLE#"

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    """Plain Python (JSON-like) to what TypeSerializer accepts: DynamoDB has no floats."""
    if value is None or isinstance(value, bool | str | int | Decimal | bytes):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _to_dynamo(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_to_dynamo(item) for item in value]
    return str(value)


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _from_dynamo(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(item) for item in value]
    if isinstance(value, set):
        return sorted(_from_dynamo(item) for item in value)
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value."""
    serialized: dict[str, Any] = _SERIALIZER.serialize(_to_dynamo(value))
    return serialized


def serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: serialize(value) for name, value in item.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (whole numbers as int, others as float)."""
    return {name: _from_dynamo(_DESERIALIZER.deserialize(value)) for name, value in item.items()}


def item_key(table: str, sort_key: str) -> dict[str, Any]:
    """The key of one item of a table's partition."""
    return {PARTITION_KEY: serialize(TABLE_PREFIX + table), SORT_KEY: serialize(sort_key)}


def table_of(raw_item: Mapping[str, Any]) -> str:
    """The table a raw (serialized) item belongs to."""
    return str(raw_item[PARTITION_KEY]["S"]).removeprefix(TABLE_PREFIX)


def sort_stamp(epoch_seconds: float) -> str:
    """Fixed-width UTC time, so that sort keys order chronologically."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_of(value: Any, *, name: str, default: float) -> float:
    """Epoch seconds from a number, a datetime or an ISO string (naive means UTC)."""
    if value is None:
        return default
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{name} must be an ISO timestamp or epoch seconds", field=name, value=value) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def qualified(table: str) -> str:
    """`schema.table` of a table name given by a caller (schema defaults to public)."""
    try:
        return TableRef.parse(table).qualified
    except ValueError as exc:
        raise ConfigError(str(exc), field="table", value=table) from exc


def legacy_name(table: str) -> str | None:
    """The ambiguous key a table's state was written under before names were quoted, when it
    differs from today's (only for names holding a dot or a quote)."""
    ref = TableRef.parse(table)
    return ref.legacy_key if ref.legacy_key != ref.qualified else None


def state_from_item(table: str, raw: Mapping[str, Any] | None) -> TableState:
    """A table's state from its raw STATE item; no item is the empty state (version 0)."""
    if not raw:
        return TableState.empty(table)
    item = deserialize(raw)
    try:
        watermark = Watermark(item["watermark"], item["watermark_type"]) if "watermark" in item else None
    except (AuroraBatchError, KeyError) as exc:
        raise StateTableError("the stored watermark cannot be read", table=table, value=item.get("watermark")) from exc
    expires = item.get("lease_expires_at")
    return TableState(
        table=table,
        watermark=watermark,
        watermark_column=item.get("watermark_column"),
        version=int(item.get("version", 0)),
        lease_owner=item.get("lease_owner"),
        lease_expires_at=float(expires) if expires is not None else None,
        last_run=item.get("last_run"),
        checkpoint=item.get("checkpoint"),
        full_reload_requested=bool(item.get("full_reload_requested", False)),
        lease_token=item.get("lease_token"),
        last_verify=item.get("last_verify"),
    )


def state_attributes(state: TableState) -> dict[str, Any]:
    """The STATE item attributes an admin change can touch (absent when None)."""
    attributes: dict[str, Any] = {
        "watermark": state.watermark.value if state.watermark else None,
        "watermark_type": state.watermark.type.value if state.watermark else None,
        "watermark_column": state.watermark_column,
        "lease_owner": state.lease_owner,
        "lease_token": state.lease_token,
        "lease_expires_at": state.lease_expires_at,
        "checkpoint": state.checkpoint,
        "full_reload_requested": state.full_reload_requested,
    }
    return {name: value for name, value in attributes.items() if value is not None}


def attribute_changes(before: TableState, after: TableState) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(attributes to SET, attributes to REMOVE) that turn `before` into `after`."""
    old, new = state_attributes(before), state_attributes(after)
    set_values = {name: value for name, value in new.items() if old.get(name) != value}
    return set_values, tuple(name for name in old if name not in new)
