"""The replication state in DynamoDB: watermarks, lease locks, run history and admin audit.

One partition per source table (`TABLE#<schema>.<table>`, see state_schema):
  STATE                       watermark, lease, last run, checkpoint, version
  RUN#<started_at>#<run_id>   one run report each, TTL, at most `max_run_history` kept
  AUDIT#<at>#<request_id>     one admin change each, TTL

Every write to STATE is conditional and increments `version`. A lease is held by a random
token, not by the owner's name, so two invocations that share a run_id (an async Lambda
delivered twice) still cannot both hold it. Lease expiry is judged by this process's clock.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from aurora_batch.errors import (
    AuroraBatchError,
    ConfigError,
    LeaseActiveError,
    LeaseLostError,
    LockHeldError,
    StateError,
    StateTableError,
    WatermarkConflictError,
)
from aurora_batch.model import RunStatus, TableRef
from aurora_batch.state_schema import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from aurora_batch.watermark import Watermark, WatermarkType, compare_watermarks

__all__ = [
    "AuditRecord",
    "Lease",
    "StateStore",
    "TableState",
    "Watermark",
    "WatermarkType",
    "admin_view",
    "make_dynamodb_client",
    "state_changes",
]

STATE_SORT_KEY = "STATE"
RUN_PREFIX = "RUN#"
AUDIT_PREFIX = "AUDIT#"
TABLE_PREFIX = "TABLE#"
DAY_SECONDS = 86_400
DEFAULT_RUN_RETENTION_SECONDS = 30 * DAY_SECONDS
DEFAULT_AUDIT_RETENTION_SECONDS = 400 * DAY_SECONDS
DEFAULT_MAX_RUN_HISTORY = 50
# Re-reads allowed when a watermark write loses to a concurrent write (e.g. a lease renewal).
ADVANCE_ATTEMPTS = 5

_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()

_HELD = "#lease_token = :token AND #lease_expires_at > :now"
_FREE = "attribute_not_exists(#lease_token) OR #lease_expires_at <= :now"
_UNCHANGED = "#version = :version"
_ABSENT = f"attribute_not_exists(#{PARTITION_KEY})"


@dataclass(frozen=True)
class Lease:
    """Proof of holding a table's lock until `expires_at` (epoch seconds)."""

    table: str
    owner: str  # the run_id of the holder
    token: str
    expires_at: float


@dataclass(frozen=True)
class AuditRecord:
    """Who asked for an admin change, and why. The store adds the old and new values."""

    actor: str
    action: str
    reason: str
    at: datetime
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class TableState:
    table: str
    watermark: Watermark | None
    watermark_column: str | None
    version: int  # 0: no STATE item yet
    lease_owner: str | None
    lease_expires_at: float | None
    last_run: dict[str, Any] | None
    checkpoint: dict[str, Any] | None
    full_reload_requested: bool
    lease_token: str | None = field(default=None, repr=False)

    def lease_live(self, now: float) -> bool:
        return self.lease_token is not None and self.lease_expires_at is not None and self.lease_expires_at > now

    @classmethod
    def empty(cls, table: str) -> TableState:
        return cls(table, None, None, 0, None, None, None, None, False)


def admin_view(state: TableState) -> dict[str, Any]:
    """The fields an operator changes, as JSON-safe values (checkpoint reduced to its run_id)."""
    checkpoint_run: str | None = None
    if state.checkpoint is not None:
        checkpoint_run = str(state.checkpoint.get("run_id", ""))
    return {
        "watermark": state.watermark.value if state.watermark else None,
        "watermark_type": state.watermark.type.value if state.watermark else None,
        "watermark_column": state.watermark_column,
        "lease_owner": state.lease_owner,
        "lease_expires_at": state.lease_expires_at,
        "checkpoint_run_id": checkpoint_run,
        "full_reload_requested": state.full_reload_requested,
    }


def state_changes(before: TableState, after: TableState) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new): the admin-visible fields that differ, with their values before and after."""
    old_view, new_view = admin_view(before), admin_view(after)
    changed = [name for name in old_view if old_view[name] != new_view[name]]
    return {name: old_view[name] for name in changed}, {name: new_view[name] for name in changed}


# --- conversion between Python values and DynamoDB attribute values ------------------------


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


def _serialize(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = _SERIALIZER.serialize(_to_dynamo(value))
    return serialized


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _from_dynamo(_DESERIALIZER.deserialize(value)) for name, value in item.items()}


def _sort_stamp(epoch_seconds: float) -> str:
    """Fixed-width UTC time, so that sort keys order chronologically."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch_of(value: Any, *, name: str, default: float) -> float:
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


def _qualified(table: str) -> str:
    try:
        return TableRef.parse(table).qualified
    except ValueError as exc:
        raise ConfigError(str(exc), field="table", value=table) from exc


# --- errors ----------------------------------------------------------------------------------


class _ConditionFailedError(StateError):
    """Internal: a conditional write lost. Always caught and turned into a domain error."""

    def __init__(self, current: Mapping[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.current = current


def _translate(exc: ClientError, operation: str, table: str | None, state_table: str) -> AuroraBatchError:
    response = exc.response
    code = str(response.get("Error", {}).get("Code", ""))
    message = str(response.get("Error", {}).get("Message", ""))[:200]
    if code == "ConditionalCheckFailedException":
        return _ConditionFailedError(response.get("Item"))
    fields: dict[str, Any] = {
        "operation": operation,
        "table": table,
        "state_table": state_table,
        "code": code,
    }
    if code == "TransactionCanceledException":
        reasons = [str(reason.get("Code", "")) for reason in response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons:
            return _ConditionFailedError(None)
        return StateError("state transaction was cancelled", reasons=",".join(reasons), **fields)
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _RETRYABLE_CODES or status >= 500:
        return StateError(f"state table unavailable: {message}", **fields)
    return StateTableError(f"state table refused the request: {message}", **fields)


class StateStore:
    """Reads and conditionally writes the state table through an injected boto3 DynamoDB client."""

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        clock: Callable[[], float] = time.time,
        *,
        run_retention_seconds: int = DEFAULT_RUN_RETENTION_SECONDS,
        audit_retention_seconds: int = DEFAULT_AUDIT_RETENTION_SECONDS,
        max_run_history: int = DEFAULT_MAX_RUN_HISTORY,
    ) -> None:
        if max_run_history < 1:
            raise ConfigError("max_run_history must be at least 1", field="max_run_history", value=max_run_history)
        self.table_name = table_name
        self._client = dynamodb_client
        self._clock = clock
        self._run_retention_seconds = run_retention_seconds
        self._audit_retention_seconds = audit_retention_seconds
        self._max_run_history = max_run_history

    # --- reads -----------------------------------------------------------------------------

    def get(self, table: str) -> TableState:
        """The table's state; a table never seen has an empty state with version 0."""
        qualified = _qualified(table)
        response = self._call("get_item", qualified, Key=self._key(qualified, STATE_SORT_KEY), ConsistentRead=True)
        return self._state_from_item(qualified, response.get("Item"))

    def run_history(self, table: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest run reports, newest first."""
        return [item["report"] for item in self._query(_qualified(table), RUN_PREFIX, limit, newest_first=True)]

    def audit_log(self, table: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest admin changes, newest first."""
        skipped = {PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE}
        return [
            {name: value for name, value in item.items() if name not in skipped}
            for item in self._query(_qualified(table), AUDIT_PREFIX, limit, newest_first=True)
        ]

    def runs_in_progress(self) -> dict[str, frozenset[str]]:
        """table -> run_ids whose staged files must be kept: the holder of an unexpired lease, and
        the run of a recorded checkpoint (it resumes in a later invocation, maybe under a new lease)."""
        now = self._clock()
        live: dict[str, frozenset[str]] = {}
        for state in self.list():
            run_ids: set[str] = set()
            if state.lease_live(now) and state.lease_owner:
                run_ids.add(state.lease_owner)
            if state.checkpoint and state.checkpoint.get("run_id"):
                run_ids.add(str(state.checkpoint["run_id"]))
            if run_ids:
                live[state.table] = frozenset(run_ids)
        return live

    # --- lease -----------------------------------------------------------------------------

    def acquire_lease(self, table: str, owner: str, ttl_seconds: float) -> Lease:
        """Take the table's lock for `ttl_seconds`, or take over an expired one.

        Raises LockHeldError (with the holder and its expiry) while another lease is live."""
        qualified = _qualified(table)
        if ttl_seconds <= 0:
            raise ConfigError("lease ttl must be positive", field="ttl_seconds", value=ttl_seconds)
        now = self._clock()
        lease = Lease(qualified, owner, uuid.uuid4().hex, now + ttl_seconds)
        request = self._update_request(
            qualified,
            set_values={
                "lease_owner": owner,
                "lease_token": lease.token,
                "lease_expires_at": lease.expires_at,
            },
            condition=_FREE,
            values={":now": now},
        )
        try:
            self._call("update_item", qualified, ReturnValuesOnConditionCheckFailure="ALL_OLD", **request)
        except _ConditionFailedError as exc:
            holder = self._state_from_item(qualified, exc.current) if exc.current else self.get(qualified)
            raise LockHeldError(
                "another run holds the table's lease",
                table=qualified,
                owner=holder.lease_owner,
                expires_at=holder.lease_expires_at,
            ) from exc
        return lease

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease:
        """Extend a lease that is still ours and unexpired; otherwise raise LeaseLostError."""
        now = self._clock()
        renewed = replace(lease, expires_at=now + ttl_seconds)
        self._update_held(lease, now, set_values={"lease_expires_at": renewed.expires_at})
        return renewed

    def release_lease(self, lease: Lease) -> None:
        """Drop the lease if it is still ours; a lease already gone or taken over is left alone."""
        request = self._update_request(
            lease.table,
            remove=("lease_owner", "lease_token", "lease_expires_at"),
            condition="#lease_token = :token",
            values={":token": lease.token},
        )
        try:
            self._call("update_item", lease.table, **request)
        except _ConditionFailedError:
            return

    # --- writes under a lease --------------------------------------------------------------

    def advance_watermark(self, lease: Lease, watermark: Watermark, column: str) -> None:
        """Move the watermark forward (or keep it equal). Never backwards: WatermarkConflictError.

        The typed comparison happens here after a read; the write is conditioned on the version
        read, so a concurrent write makes it re-read and compare again."""
        for _ in range(ADVANCE_ATTEMPTS):
            now = self._clock()
            state = self.get(lease.table)
            self._require_held(state, lease, now)
            current = state.watermark
            if current is not None:
                if state.watermark_column is not None and state.watermark_column != column:
                    raise WatermarkConflictError(
                        "the incremental column changed: reset the table before using a new column",
                        table=lease.table,
                        run_id=lease.owner,
                        column=column,
                        stored_column=state.watermark_column,
                    )
                if current.type is not watermark.type:
                    raise WatermarkConflictError(
                        "the watermark type changed: reset the table",
                        table=lease.table,
                        run_id=lease.owner,
                        stored_type=current.type.value,
                        new_type=watermark.type.value,
                    )
                if compare_watermarks(watermark, current) < 0:
                    raise WatermarkConflictError(
                        "the watermark never moves backwards",
                        table=lease.table,
                        run_id=lease.owner,
                        current=current.value,
                        proposed=watermark.value,
                    )
            request = self._update_request(
                lease.table,
                set_values={
                    "watermark": watermark.value,
                    "watermark_type": watermark.type.value,
                    "watermark_column": column,
                },
                condition=f"{_UNCHANGED} AND {_HELD}",
                values={":version": state.version, ":token": lease.token, ":now": now},
            )
            try:
                self._call("update_item", lease.table, **request)
                return
            except _ConditionFailedError:
                continue  # changed since our read: read again and re-check
        raise WatermarkConflictError(
            "the state kept changing while advancing the watermark",
            table=lease.table,
            run_id=lease.owner,
            attempts=ADVANCE_ATTEMPTS,
        )

    def save_checkpoint(self, lease: Lease, checkpoint: Mapping[str, Any] | None) -> None:
        """Record (or with None, clear) the continuation state of a resumable run."""
        if checkpoint is None:
            self._update_held(lease, self._clock(), remove=("checkpoint",))
        else:
            self._update_held(lease, self._clock(), set_values={"checkpoint": dict(checkpoint)})

    def clear_full_reload_request(self, lease: Lease) -> None:
        self._update_held(lease, self._clock(), set_values={"full_reload_requested": False})

    # --- run reports -----------------------------------------------------------------------

    def record_run(self, table: str, run_report: Mapping[str, Any]) -> None:
        """Append the report to the run history (TTL, bounded) and make it the table's last_run.

        last_run keeps the report of the latest-started run: a run that lost its lease and
        reports late cannot overwrite its successor's. A `locked` run did nothing, so it only
        goes to the history."""
        qualified = _qualified(table)
        run_id = run_report.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ConfigError("a run report needs a run_id", field="run_id", value=run_id, table=qualified)
        now = self._clock()
        started = _epoch_of(run_report.get("started_at"), name="started_at", default=now)
        history_item = {
            PARTITION_KEY: TABLE_PREFIX + qualified,
            SORT_KEY: f"{RUN_PREFIX}{_sort_stamp(started)}#{run_id}",
            "report": dict(run_report),
            TTL_ATTRIBUTE: int(now + self._run_retention_seconds),
        }
        self._call("put_item", qualified, Item={name: _serialize(value) for name, value in history_item.items()})
        if run_report.get("status") != RunStatus.LOCKED:
            request = self._update_request(
                qualified,
                set_values={"last_run": dict(run_report), "last_run_started_at": started},
                condition="attribute_not_exists(#last_run_started_at) OR #last_run_started_at <= :started",
                values={":started": started},
            )
            # Losing the condition means a later run already reported; this one stays in the history.
            with contextlib.suppress(_ConditionFailedError):
                self._call("update_item", qualified, **request)
        self._prune_history(qualified)

    # --- admin changes (each with its AUDIT# item in one transaction) ------------------------

    def admin_set_watermark(
        self,
        table: str,
        watermark: Watermark,
        column: str | None,
        audit: AuditRecord,
        *,
        expected_version: int | None = None,
        dry_run: bool = False,
    ) -> TableState:
        """Set the watermark (backwards allowed). Drops any checkpoint and full-reload request,
        since a resumed run would otherwise overwrite the value just set."""

        def change(before: TableState, now: float) -> TableState:
            _refuse_while_leased(before, now, audit.action)
            return replace(
                before,
                watermark=watermark,
                watermark_column=column or before.watermark_column,
                checkpoint=None,
                full_reload_requested=False,
            )

        return self._admin_change(table, audit, change, expected_version, dry_run)

    def admin_reset(
        self, table: str, audit: AuditRecord, *, expected_version: int | None = None, dry_run: bool = False
    ) -> TableState:
        """Clear watermark and checkpoint; the next run does a full reload."""

        def change(before: TableState, now: float) -> TableState:
            _refuse_while_leased(before, now, audit.action)
            return replace(before, watermark=None, checkpoint=None, full_reload_requested=True)

        return self._admin_change(table, audit, change, expected_version, dry_run)

    def admin_unlock(
        self,
        table: str,
        audit: AuditRecord,
        only_if_expired: bool = True,
        *,
        expected_version: int | None = None,
        dry_run: bool = False,
    ) -> TableState:
        """Remove the lease. An unexpired lease is broken only with only_if_expired=False."""

        def change(before: TableState, now: float) -> TableState:
            if only_if_expired and before.lease_live(now):
                raise LeaseActiveError(
                    "the lease has not expired; pass force to break a lease of a run that may be alive",
                    table=before.table,
                    owner=before.lease_owner,
                    expires_at=before.lease_expires_at,
                )
            return replace(before, lease_owner=None, lease_token=None, lease_expires_at=None)

        return self._admin_change(table, audit, change, expected_version, dry_run)

    # --- internals -------------------------------------------------------------------------

    def _admin_change(
        self,
        table: str,
        audit: AuditRecord,
        change: Callable[[TableState, float], TableState],
        expected_version: int | None,
        dry_run: bool,
    ) -> TableState:
        before = self.get(table)
        if expected_version is not None and before.version != expected_version:
            raise WatermarkConflictError(
                "the state changed since it was read; read it again",
                table=before.table,
                expected_version=expected_version,
                version=before.version,
            )
        after = change(before, self._clock())
        old, new = state_changes(before, after)
        if dry_run or not new:
            return after
        set_values, remove = _attribute_changes(before, after)
        update = self._update_request(
            before.table,
            set_values=set_values,
            remove=remove,
            condition=_UNCHANGED if before.version else _ABSENT,
            values={":version": before.version},
        )
        moment = audit.at if audit.at.tzinfo else audit.at.replace(tzinfo=UTC)
        audit_item = {
            PARTITION_KEY: TABLE_PREFIX + before.table,
            SORT_KEY: f"{AUDIT_PREFIX}{_sort_stamp(moment.timestamp())}#{audit.request_id}",
            "request_id": audit.request_id,
            "table": before.table,
            "actor": audit.actor,
            "action": audit.action,
            "reason": audit.reason,
            "at": moment.astimezone(UTC).isoformat(),
            "old": old,
            "new": new,
            TTL_ATTRIBUTE: int(moment.timestamp() + self._audit_retention_seconds),
        }
        put = {
            "TableName": self.table_name,
            "Item": {name: _serialize(value) for name, value in audit_item.items()},
            "ConditionExpression": f"attribute_not_exists(#{SORT_KEY})",
            "ExpressionAttributeNames": {f"#{SORT_KEY}": SORT_KEY},
        }
        try:
            self._call("transact_write_items", before.table, TransactItems=[{"Update": update}, {"Put": put}])
        except _ConditionFailedError as exc:
            raise WatermarkConflictError(
                "the state changed during the admin change; read it again", table=before.table
            ) from exc
        return replace(after, version=before.version + 1)

    def _update_held(
        self,
        lease: Lease,
        now: float,
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: tuple[str, ...] = (),
    ) -> None:
        request = self._update_request(
            lease.table,
            set_values=set_values,
            remove=remove,
            condition=_HELD,
            values={":token": lease.token, ":now": now},
        )
        try:
            self._call("update_item", lease.table, **request)
        except _ConditionFailedError as exc:
            raise LeaseLostError(
                "the lease expired or was taken over",
                table=lease.table,
                run_id=lease.owner,
                owner=lease.owner,
            ) from exc

    def _require_held(self, state: TableState, lease: Lease, now: float) -> None:
        if state.lease_token != lease.token or not state.lease_live(now):
            raise LeaseLostError(
                "the lease expired or was taken over",
                table=lease.table,
                run_id=lease.owner,
                owner=lease.owner,
                holder=state.lease_owner,
            )

    def _update_request(
        self,
        table: str,
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: tuple[str, ...] = (),
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An UpdateItem request on the STATE item that also increments `version`.
        Placeholders are `#<attribute>` and `:<name>`; only the ones used are sent (DynamoDB
        rejects unused ones)."""
        assignments = [f"#{name} = :set_{name}" for name in set_values or {}]
        assignments.append("#version = if_not_exists(#version, :zero) + :one")
        expression = "SET " + ", ".join(assignments)
        if remove:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in remove)
        all_values = {f":set_{name}": value for name, value in (set_values or {}).items()}
        all_values.update({":zero": 0, ":one": 1, **(values or {})})
        text = f"{expression} {condition or ''}"
        used_values = set(re.findall(r":\w+", text))
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(table, STATE_SORT_KEY),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {f"#{name}": name for name in set(re.findall(r"#(\w+)", text))},
            "ExpressionAttributeValues": {
                name: _serialize(value) for name, value in all_values.items() if name in used_values
            },
        }
        if condition:
            request["ConditionExpression"] = condition
        return request

    def _query(self, table: str, prefix: str, limit: int | None, *, newest_first: bool) -> Iterator[dict[str, Any]]:
        """Items of one table whose sort key starts with `prefix`, deserialized, paginated."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"#{PARTITION_KEY} = :pk AND begins_with(#{SORT_KEY}, :prefix)",
            "ExpressionAttributeNames": {f"#{PARTITION_KEY}": PARTITION_KEY, f"#{SORT_KEY}": SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": _serialize(TABLE_PREFIX + table),
                ":prefix": _serialize(prefix),
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        returned = 0
        while limit is None or returned < limit:
            if limit is not None:
                request["Limit"] = limit - returned
            response = self._call("query", table, **request)
            for raw in response.get("Items", []):
                returned += 1
                yield _deserialize(raw)
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _prune_history(self, table: str) -> None:
        """Delete the oldest RUN# items beyond `max_run_history` (TTL alone would let them pile up)."""
        keys = [item[SORT_KEY] for item in self._query(table, RUN_PREFIX, None, newest_first=False)]
        for sort_key in keys[: max(0, len(keys) - self._max_run_history)]:
            self._call("delete_item", table, Key=self._key(table, sort_key))

    def _key(self, table: str, sort_key: str) -> dict[str, Any]:
        return {PARTITION_KEY: _serialize(TABLE_PREFIX + table), SORT_KEY: _serialize(sort_key)}

    def _call(self, operation: str, table: str | None, **request: Any) -> dict[str, Any]:
        if operation != "transact_write_items":  # transactions name the table per item
            request.setdefault("TableName", self.table_name)
        try:
            response: dict[str, Any] = getattr(self._client, operation)(**request)
        except ClientError as exc:
            raise _translate(exc, operation, table, self.table_name) from exc
        except ParamValidationError as exc:  # a request this code built wrongly: retrying cannot help
            raise StateTableError(
                "invalid state table request", operation=operation, table=table, state_table=self.table_name
            ) from exc
        except BotoCoreError as exc:
            raise StateError(
                "could not reach the state table",
                operation=operation,
                table=table,
                state_table=self.table_name,
            ) from exc
        return response

    def _state_from_item(self, table: str, raw: Mapping[str, Any] | None) -> TableState:
        if not raw:
            return TableState.empty(table)
        item = _deserialize(raw)
        try:
            watermark = Watermark(item["watermark"], item["watermark_type"]) if "watermark" in item else None
        except (AuroraBatchError, KeyError) as exc:
            raise StateTableError(
                "the stored watermark cannot be read", table=table, value=item.get("watermark")
            ) from exc
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
        )

    def list(self) -> list[TableState]:
        """Every table's state, sorted by table name (a paginated scan of the STATE items)."""
        request: dict[str, Any] = {
            "FilterExpression": f"#{SORT_KEY} = :state",
            "ExpressionAttributeNames": {f"#{SORT_KEY}": SORT_KEY},
            "ExpressionAttributeValues": {":state": _serialize(STATE_SORT_KEY)},
            "ConsistentRead": True,
        }
        states: list[TableState] = []
        while True:
            response = self._call("scan", None, **request)
            for raw in response.get("Items", []):
                states.append(self._state_from_item(raw[PARTITION_KEY]["S"].removeprefix(TABLE_PREFIX), raw))
            if "LastEvaluatedKey" not in response:
                return sorted(states, key=lambda state: state.table)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _refuse_while_leased(state: TableState, now: float, action: str) -> None:
    """A run holding the lease would overwrite an admin change when it finishes."""
    if state.lease_live(now):
        raise LeaseActiveError(
            f"cannot {action} while a run holds the lease: wait for it, or unlock it with force first",
            table=state.table,
            owner=state.lease_owner,
            expires_at=state.lease_expires_at,
        )


def _state_attributes(state: TableState) -> dict[str, Any]:
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


def _attribute_changes(before: TableState, after: TableState) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(attributes to SET, attributes to REMOVE) that turn `before` into `after`."""
    old, new = _state_attributes(before), _state_attributes(after)
    set_values = {name: value for name, value in new.items() if old.get(name) != value}
    return set_values, tuple(name for name in old if name not in new)


def make_dynamodb_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
