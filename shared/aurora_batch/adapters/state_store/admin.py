"""The state an operator changes: set, reset and unlock, each written with its audit record in one
transaction, and the reads the admin function shows (run history, audit log).

Audit records are append-only and live in a partition of their own, `AUDIT#<schema>.<table>`, so
that IAM can keep every other writer out of it (`dynamodb:LeadingKeys`, modules/iam): the
replication role cannot write or delete them, and the admin role only puts new ones. Each is
written on the condition that its key is new; a collision fails, it never overwrites. Records
written before sit in the table's own partition (`TABLE#...`, sort key `AUDIT#...`) and are
still shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC
from typing import Any

from aurora_batch.adapters.state_store.codec import (
    AUDIT_PREFIX,
    RUN_PREFIX,
    attribute_changes,
    legacy_name,
    qualified,
    serialize_item,
    sort_stamp,
    state_attributes,
)
from aurora_batch.adapters.state_store.table import ABSENT, UNCHANGED, ConditionFailedError, StateTable
from aurora_batch.errors import AuditRecordExistsError, LeaseActiveError, WatermarkConflictError
from aurora_batch.ports import AuditRecord, TableState
from aurora_batch.state_schema import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from aurora_batch.watermark import Watermark

# The audit records' partition key prefix; modules/iam's LeadingKeys conditions name it.
AUDIT_PARTITION_PREFIX = "AUDIT#"


class AdminStateTable(StateTable):
    """The admin-facing operations on the state table (ports.AdminStateStore)."""

    def run_history(self, table: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest run reports, newest first."""
        return [item["report"] for item in self._newest(qualified(table), RUN_PREFIX, limit)]

    def audit_log(self, table: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest admin changes, newest first: the audit partition's, and those written
        before it existed (in the table's own partition)."""
        name = qualified(table)
        items = list(self._query(name, AUDIT_PREFIX, limit, newest_first=True, partition_prefix=AUDIT_PARTITION_PREFIX))
        items.extend(self._newest(name, AUDIT_PREFIX, limit))
        items.sort(key=lambda item: str(item[SORT_KEY]), reverse=True)
        skipped = {PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE}
        return [{key: value for key, value in item.items() if key not in skipped} for item in items[:limit]]

    def _newest(self, name: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        """The newest items of the table's partition and, for a name that had a legacy key, of that
        partition too: the history written before names were quoted stays where it was."""
        items = list(self._query(name, prefix, limit, newest_first=True))
        legacy = legacy_name(name)
        if legacy is not None:
            items.extend(self._query(legacy, prefix, limit, newest_first=True))
            items.sort(key=lambda item: str(item[SORT_KEY]), reverse=True)
        return items[:limit]

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

    def _admin_change(
        self,
        table: str,
        audit: AuditRecord,
        change: Callable[[TableState, float], TableState],
        expected_version: int | None,
        dry_run: bool,
    ) -> TableState:
        self._claim_legacy_state(qualified(table))
        before = self.get(table)
        if expected_version is not None and before.version != expected_version:
            raise WatermarkConflictError(
                "the state changed since it was read; read it again",
                table=before.table,
                expected_version=expected_version,
                version=before.version,
            )
        after = change(before, self._clock())
        set_values, remove = attribute_changes(before, after)
        if dry_run or not (set_values or remove):
            return after
        update = self._update_request(
            before.table,
            set_values=set_values,
            remove=remove,
            condition=UNCHANGED if before.version else ABSENT,
            values={":version": before.version},
        )
        old, new = audited_changes(before, after)
        moment = audit.at if audit.at.tzinfo else audit.at.replace(tzinfo=UTC)
        audit_item = {
            PARTITION_KEY: AUDIT_PARTITION_PREFIX + before.table,
            SORT_KEY: f"{AUDIT_PREFIX}{sort_stamp(moment.timestamp())}#{audit.request_id}",
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
            "Item": serialize_item(audit_item),
            # Append-only: an existing record with this key fails the write, never is overwritten.
            "ConditionExpression": f"attribute_not_exists(#{PARTITION_KEY})",
            "ExpressionAttributeNames": {f"#{PARTITION_KEY}": PARTITION_KEY},
        }
        try:
            self._call("transact_write_items", before.table, TransactItems=[{"Update": update}, {"Put": put}])
        except ConditionFailedError as exc:
            if _failed_items(exc) == [1]:
                raise AuditRecordExistsError(
                    "an audit record with this id exists; nothing was changed",
                    table=before.table,
                    request_id=audit.request_id,
                ) from exc
            raise WatermarkConflictError(
                "the state changed during the admin change; read it again", table=before.table
            ) from exc
        return replace(after, version=before.version + 1)


def audited_changes(before: TableState, after: TableState) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new) as the audit record keeps them: the STATE attributes that differ, absent as None,
    without the lease token (it proves holding a lease) and with the checkpoint by its run_id."""
    old, new = _audited(state_attributes(before)), _audited(state_attributes(after))
    changed = [name for name in {**old, **new} if old.get(name) != new.get(name)]
    return {name: old.get(name) for name in changed}, {name: new.get(name) for name in changed}


def _audited(attributes: Mapping[str, Any]) -> dict[str, Any]:
    audited: dict[str, Any] = {}
    for name, value in attributes.items():
        if name == "checkpoint":
            audited["checkpoint_run_id"] = str(value.get("run_id", ""))
        elif name != "lease_token":
            audited[name] = value
    return audited


def _failed_items(exc: ConditionFailedError) -> list[int]:
    """Which items of a cancelled transaction failed their condition (from DynamoDB's reasons)."""
    response = getattr(exc.__cause__, "response", None) or {}
    reasons = response.get("CancellationReasons") or []
    return [index for index, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]


def _refuse_while_leased(state: TableState, now: float, action: str) -> None:
    """A run holding the lease would overwrite an admin change when it finishes."""
    if state.lease_live(now):
        raise LeaseActiveError(
            f"cannot {action} while a run holds the lease: wait for it, or unlock it with force first",
            table=state.table,
            owner=state.lease_owner,
            expires_at=state.lease_expires_at,
        )
