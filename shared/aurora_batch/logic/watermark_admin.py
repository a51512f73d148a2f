"""Operator actions on the replication state: get, list, set, reset, unlock.

Mutating actions (set, reset, unlock) need a reason and an actor, support dry_run, and write
an audit record (who, when, why, old and new values) in the same transaction as the change.
The actor is set by the entry point, never by the caller: the admin function's signed principal
(logic.admin_identity), the CLI's STS caller identity. Reason and actor have bounded lengths. A
naive `timestamp` watermark is read as UTC when refusing values in the future.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator
from pydantic import ValidationError as PydanticValidationError

from aurora_batch.errors import ConfigError
from aurora_batch.logic.admin_view import describe_state, state_changes
from aurora_batch.model import TableRef
from aurora_batch.ports import AdminStateStore, AuditRecord, TableState
from aurora_batch.watermark import Watermark, WatermarkType

_SHOWN_INPUT_CHARS = 80
MAX_REASON_CHARS = 1000
MAX_ACTOR_CHARS = 2048  # IAM's limit on an ARN
_Value = TypeVar("_Value", bound=str | int)


class AdminAction(StrEnum):
    GET = "get"
    LIST = "list"
    SET = "set"
    RESET = "reset"
    UNLOCK = "unlock"


class AdminRequest(BaseModel):
    """One operator request, as sent in the admin Lambda's event or built by the CLI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: AdminAction
    table: StrictStr | None = None  # schema.table
    value: StrictStr | StrictInt | None = None  # for set; integers may be sent as JSON numbers
    type: WatermarkType | None = None  # for set on a table without a stored watermark type
    column: StrictStr | None = None  # for set: the incremental column, when none is stored yet
    reason: StrictStr | None = Field(default=None, max_length=MAX_REASON_CHARS)
    actor: StrictStr | None = Field(default=None, max_length=MAX_ACTOR_CHARS)  # set by the entry point
    dry_run: StrictBool = False
    force: StrictBool = False
    limit: StrictInt = Field(default=10, ge=1, le=100)  # runs and audit records shown by get

    @field_validator("table")
    @classmethod
    def _qualified_table(cls, table: str | None) -> str | None:
        return None if table is None else TableRef.parse(table).qualified

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> AdminRequest:
        """Validate an event; a bad one raises ConfigError naming the field and the value received."""
        try:
            return cls.model_validate(dict(event))
        except PydanticValidationError as exc:
            # A union field reports one problem per member (loc "value.str", "value.int"): group
            # them under the top-level field name the operator wrote.
            problems: dict[str, list[str]] = {}
            for problem in exc.errors():
                problems.setdefault(str(problem["loc"][0]) if problem["loc"] else "request", []).append(problem["msg"])
            first = exc.errors()[0]
            received = "(missing)" if first["type"] == "missing" else repr(first.get("input"))
            details = "; ".join(f"{name}: {' or '.join(messages)}" for name, messages in problems.items())
            raise ConfigError(
                f"invalid admin request: {details}",
                field=next(iter(problems)),
                value=received[:_SHOWN_INPUT_CHARS],
            ) from exc


def handle_admin_request(request: AdminRequest, store: AdminStateStore, now: Callable[[], datetime]) -> dict[str, Any]:
    """Carry out one request and return a JSON-safe result."""
    if request.action is AdminAction.LIST:
        moment = _utc(now())
        return {
            "action": request.action.value,
            "tables": [describe_state(state, moment) for state in store.list()],
        }
    table = _required(request.table, "table", request.action)
    if request.action is AdminAction.GET:
        return {
            "action": request.action.value,
            "table": table,
            "state": describe_state(store.get(table), _utc(now())),
            "runs": store.run_history(table, request.limit),
            "audit": store.audit_log(table, request.limit),
        }
    return _mutate(request, table, store, _utc(now()))


def _mutate(request: AdminRequest, table: str, store: AdminStateStore, at: datetime) -> dict[str, Any]:
    reason = _required(request.reason, "reason", request.action).strip()
    actor = _required(request.actor, "actor", request.action).strip()
    audit = AuditRecord(actor=actor, action=request.action.value, reason=reason, at=at)
    before = store.get(table)
    options: dict[str, Any] = {"expected_version": before.version, "dry_run": request.dry_run}
    if request.action is AdminAction.SET:
        watermark = _requested_watermark(request, before, at)
        column = request.column or before.watermark_column
        if column is None:
            raise ConfigError("the table has no incremental column recorded: pass column", field="column", table=table)
        after = store.admin_set_watermark(table, watermark, column, audit, **options)
    elif request.action is AdminAction.RESET:
        after = store.admin_reset(table, audit, **options)
    else:
        after = store.admin_unlock(table, audit, only_if_expired=not request.force, **options)
    old, new = state_changes(before, after)
    return {
        "action": request.action.value,
        "table": table,
        "dry_run": request.dry_run,
        "changed": bool(new),
        "old": old,
        "new": new,
        "actor": actor,
        "reason": reason,
        "at": at.isoformat(),
        "audit_id": audit.request_id if new and not request.dry_run else None,
    }


def _requested_watermark(request: AdminRequest, before: TableState, at: datetime) -> Watermark:
    """The value to set, typed by the column's stored type (or the request's `type` when the
    table has none, or when `column` names a different column); refused in the future unless forced."""
    value = _required(request.value, "value", request.action)
    stored_type = before.watermark.type if before.watermark else None
    switching_column = request.column is not None and request.column != before.watermark_column
    if request.type and stored_type and request.type is not stored_type and not switching_column:
        raise ConfigError(
            f"the column's watermark type is {stored_type.value}, not {request.type.value}",
            field="type",
            value=request.type.value,
            table=before.table,
        )
    kind = request.type or stored_type
    if kind is None:
        raise ConfigError(
            "the table has no stored watermark type: pass type (timestamp, timestamptz, date or integer)",
            field="type",
            table=before.table,
        )
    watermark = Watermark(str(value), kind)
    if not request.force and _in_future(watermark, at):
        raise ConfigError(
            "the watermark would be in the future (rows written until then would be skipped); "
            "pass force to set it anyway",
            field="value",
            value=watermark.value,
            now=at.isoformat(),
            table=before.table,
        )
    return watermark


def _in_future(watermark: Watermark, at: datetime) -> bool:
    parsed = watermark.parsed
    if watermark.type is WatermarkType.TIMESTAMPTZ and isinstance(parsed, datetime):
        return parsed > at
    if watermark.type is WatermarkType.TIMESTAMP and isinstance(parsed, datetime):
        return parsed > at.replace(tzinfo=None)
    if watermark.type is WatermarkType.DATE and isinstance(parsed, date):
        return parsed > at.date()
    return False


def _required(value: _Value | None, field: str, action: AdminAction) -> _Value:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"action {action.value} requires a non-empty {field}", field=field, action=action.value)
    return value


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
