"""Access to the DynamoDB state table shared by its callers: requests, error translation, reads.

Every write to STATE is conditional and increments `version` (see `StateTable._update_request`). Lease
expiry is judged by this process's clock.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from aurora_batch.adapters.state_store.codec import (
    STATE_SORT_KEY,
    TABLE_PREFIX,
    deserialize,
    item_key,
    legacy_name,
    qualified,
    serialize,
    state_from_item,
    table_of,
)
from aurora_batch.errors import AuroraBatchError, ConfigError, StateError, StateTableError
from aurora_batch.ports import TableState
from aurora_batch.state_schema import PARTITION_KEY, SORT_KEY

DAY_SECONDS = 86_400
DEFAULT_RUN_RETENTION_SECONDS = 30 * DAY_SECONDS
DEFAULT_AUDIT_RETENTION_SECONDS = 400 * DAY_SECONDS
DEFAULT_MAX_RUN_HISTORY = 50

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

# Conditions on the STATE item (placeholders as in `StateTable.update_request`).
HELD = "#lease_token = :token AND #lease_expires_at > :now"
FREE = "attribute_not_exists(#lease_token) OR #lease_expires_at <= :now"
UNCHANGED = "#version = :version"
ABSENT = f"attribute_not_exists(#{PARTITION_KEY})"


class ConditionFailedError(StateError):
    """A conditional write lost. Always caught and turned into a domain error."""

    def __init__(self, current: Mapping[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.current = current


def _translate(exc: ClientError, operation: str, table: str | None, state_table: str) -> AuroraBatchError:
    response = exc.response
    code = str(response.get("Error", {}).get("Code", ""))
    message = str(response.get("Error", {}).get("Message", ""))[:200]
    if code == "ConditionalCheckFailedException":
        return ConditionFailedError(response.get("Item"))
    fields: dict[str, Any] = {
        "operation": operation,
        "table": table,
        "state_table": state_table,
        "code": code,
    }
    if code == "TransactionCanceledException":
        reasons = [str(reason.get("Code", "")) for reason in response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons:
            return ConditionFailedError(None)
        return StateError("state transaction was cancelled", reasons=",".join(reasons), **fields)
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _RETRYABLE_CODES or status >= 500:
        return StateError(f"state table unavailable: {message}", **fields)
    return StateTableError(f"state table refused the request: {message}", **fields)


class StateTable:
    """Reads the state table through an injected boto3 DynamoDB client, and builds its writes."""

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
        name = qualified(table)
        item = self._state_item(name)
        legacy = legacy_name(name)
        if item is None and legacy is not None:
            item = self._state_item(legacy)  # read through until a lease or admin change moves it
        return state_from_item(name, item)

    def _state_item(self, key_name: str) -> dict[str, Any] | None:
        response = self._call("get_item", key_name, Key=item_key(key_name, STATE_SORT_KEY), ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _claim_legacy_state(self, name: str) -> None:
        """Move the STATE item from the table's legacy key to its own, once: a conditional copy
        (only while the new key has none) and a delete (only while the legacy item is unchanged)
        in one transaction. Two tables whose names shared a legacy key shared its state too; the
        first of them to take a lease or be changed by an admin claims it, the other starts afresh.
        A lost condition means another process moved or changed it first: the caller reads again."""
        legacy = legacy_name(name)
        if legacy is None or self._state_item(name) is not None:
            return
        old = self._state_item(legacy)
        if old is None:
            return
        version = old.get("version")
        unchanged = "#version = :version" if version else "attribute_not_exists(#version)"
        moved = {
            "TableName": self.table_name,
            "Item": {**old, PARTITION_KEY: serialize(TABLE_PREFIX + name)},
            "ConditionExpression": f"attribute_not_exists(#{PARTITION_KEY})",
            "ExpressionAttributeNames": {f"#{PARTITION_KEY}": PARTITION_KEY},
        }
        removed: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": item_key(legacy, STATE_SORT_KEY),
            "ConditionExpression": unchanged,
            "ExpressionAttributeNames": {"#version": "version"},
        }
        if version:
            removed["ExpressionAttributeValues"] = {":version": version}
        with contextlib.suppress(ConditionFailedError):
            self._call("transact_write_items", name, TransactItems=[{"Put": moved}, {"Delete": removed}])

    def list(self) -> list[TableState]:
        """Every table's state, sorted by table name (a paginated scan of the STATE items)."""
        request: dict[str, Any] = {
            "FilterExpression": f"#{SORT_KEY} = :state",
            "ExpressionAttributeNames": {f"#{SORT_KEY}": SORT_KEY},
            "ExpressionAttributeValues": {":state": serialize(STATE_SORT_KEY)},
            "ConsistentRead": True,
        }
        states: list[TableState] = []
        while True:
            response = self._call("scan", None, **request)
            states.extend(state_from_item(table_of(raw), raw) for raw in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(states, key=lambda state: state.table)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- requests --------------------------------------------------------------------------

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
            "Key": item_key(table, STATE_SORT_KEY),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {f"#{name}": name for name in set(re.findall(r"#(\w+)", text))},
            "ExpressionAttributeValues": {
                name: serialize(value) for name, value in all_values.items() if name in used_values
            },
        }
        if condition:
            request["ConditionExpression"] = condition
        return request

    def _query(
        self, table: str, prefix: str, limit: int | None, *, newest_first: bool, partition_prefix: str = TABLE_PREFIX
    ) -> Iterator[dict[str, Any]]:
        """Items of one table's partition (`partition_prefix` + name) whose sort key starts with
        `prefix`, deserialized, paginated."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"#{PARTITION_KEY} = :pk AND begins_with(#{SORT_KEY}, :prefix)",
            "ExpressionAttributeNames": {f"#{PARTITION_KEY}": PARTITION_KEY, f"#{SORT_KEY}": SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": serialize(partition_prefix + table),
                ":prefix": serialize(prefix),
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
                yield deserialize(raw)
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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
