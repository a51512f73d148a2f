"""The state a replication run works with: its lease, watermark, checkpoint and run history,
and, for the staging cleanup, which runs still need their files.

A lease is held by a random token, not by the owner's name, so two invocations that share a
run_id (an async Lambda delivered twice) still cannot both hold it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aurora_batch.adapters.state_store.codec import (
    RUN_PREFIX,
    TABLE_PREFIX,
    epoch_of,
    item_key,
    qualified,
    serialize_item,
    sort_stamp,
    state_from_item,
)
from aurora_batch.adapters.state_store.table import FREE, HELD, UNCHANGED, ConditionFailedError, StateTable
from aurora_batch.errors import ConfigError, LeaseLostError, LockHeldError, WatermarkConflictError
from aurora_batch.model import RunStatus
from aurora_batch.ports import Lease, TableState
from aurora_batch.state_schema import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from aurora_batch.watermark import Watermark, compare_watermarks

# Re-reads allowed when a watermark write loses to a concurrent write (e.g. a lease renewal).
ADVANCE_ATTEMPTS = 5


class RunStateTable(StateTable):
    """The run-facing operations on the state table (ports.RunStateStore, ports.LiveRunsStore)."""

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
        name = qualified(table)
        if ttl_seconds <= 0:
            raise ConfigError("lease ttl must be positive", field="ttl_seconds", value=ttl_seconds)
        self._claim_legacy_state(name)
        now = self._clock()
        lease = Lease(name, owner, uuid.uuid4().hex, now + ttl_seconds)
        request = self._update_request(
            name,
            set_values={
                "lease_owner": owner,
                "lease_token": lease.token,
                "lease_expires_at": lease.expires_at,
            },
            condition=FREE,
            values={":now": now},
        )
        try:
            self._call("update_item", name, ReturnValuesOnConditionCheckFailure="ALL_OLD", **request)
        except ConditionFailedError as exc:
            holder = state_from_item(name, exc.current) if exc.current else self.get(name)
            raise LockHeldError(
                "another run holds the table's lease",
                table=name,
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
        except ConditionFailedError:
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
            _refuse_to_move_back(state, lease, watermark, column)
            request = self._update_request(
                lease.table,
                set_values={
                    "watermark": watermark.value,
                    "watermark_type": watermark.type.value,
                    "watermark_column": column,
                },
                condition=f"{UNCHANGED} AND {HELD}",
                values={":version": state.version, ":token": lease.token, ":now": now},
            )
            try:
                self._call("update_item", lease.table, **request)
                return
            except ConditionFailedError:
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
        name = qualified(table)
        run_id = run_report.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ConfigError("a run report needs a run_id", field="run_id", value=run_id, table=name)
        now = self._clock()
        started = epoch_of(run_report.get("started_at"), name="started_at", default=now)
        history_item = {
            PARTITION_KEY: TABLE_PREFIX + name,
            SORT_KEY: f"{RUN_PREFIX}{sort_stamp(started)}#{run_id}",
            "report": dict(run_report),
            TTL_ATTRIBUTE: int(now + self._run_retention_seconds),
        }
        self._call("put_item", name, Item=serialize_item(history_item))
        if run_report.get("status") != RunStatus.LOCKED:
            request = self._update_request(
                name,
                set_values={"last_run": dict(run_report), "last_run_started_at": started},
                condition="attribute_not_exists(#last_run_started_at) OR #last_run_started_at <= :started",
                values={":started": started},
            )
            # Losing the condition means a later run already reported; this one stays in the history.
            with contextlib.suppress(ConditionFailedError):
                self._call("update_item", name, **request)
        self._prune_history(name)

    def record_verify(self, table: str, verify_report: Mapping[str, Any]) -> None:
        """Append the verify's report to the run history (mode `verify`) and make it the table's
        last_verify; last_run stays the last replication's. A `locked` verify only goes to the history."""
        name = qualified(table)
        run_id = verify_report.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ConfigError("a verify report needs a run_id", field="run_id", value=run_id, table=name)
        now = self._clock()
        started = epoch_of(verify_report.get("started_at"), name="started_at", default=now)
        report = {**verify_report, "mode": "verify"}
        history_item = {
            PARTITION_KEY: TABLE_PREFIX + name,
            SORT_KEY: f"{RUN_PREFIX}{sort_stamp(started)}#{run_id}",
            "report": report,
            TTL_ATTRIBUTE: int(now + self._run_retention_seconds),
        }
        self._call("put_item", name, Item=serialize_item(history_item))
        if verify_report.get("status") != RunStatus.LOCKED:
            self._call("update_item", name, **self._update_request(name, set_values={"last_verify": report}))
        self._prune_history(name)

    def _prune_history(self, table: str) -> None:
        """Delete the oldest RUN# items beyond `max_run_history` (TTL alone would let them pile up)."""
        keys = [item[SORT_KEY] for item in self._query(table, RUN_PREFIX, None, newest_first=False)]
        for sort_key in keys[: max(0, len(keys) - self._max_run_history)]:
            self._call("delete_item", table, Key=item_key(table, sort_key))

    # --- lease checks ----------------------------------------------------------------------

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
            condition=HELD,
            values={":token": lease.token, ":now": now},
        )
        try:
            self._call("update_item", lease.table, **request)
        except ConditionFailedError as exc:
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


def _refuse_to_move_back(state: TableState, lease: Lease, watermark: Watermark, column: str) -> None:
    """A watermark only moves forward, on the same column and type as the stored one."""
    current = state.watermark
    if current is None:
        return
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
