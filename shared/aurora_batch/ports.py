"""The interfaces logic works through, and the values that cross them.

Logic depends on these Protocols only. The adapters implement them (PostgreSQL, Snowflake, S3,
DynamoDB, Lambda) and the wiring modules connect the two. No third-party imports at run time:
the cleanup and admin functions import this module, and their zips ship no pyarrow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aurora_batch.model import SourceColumn, SourceTable, TableRef
from aurora_batch.watermark import Watermark

if TYPE_CHECKING:
    import pyarrow as pa


# --- source: PostgreSQL ------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnRange:
    """What the snapshot holds of the incremental column: its newest value and its NULL count."""

    newest: Any
    nulls: int


class Snapshot(Protocol):
    """One consistent, read-only view of the source for the duration of an extract."""

    # Checked when the snapshot opened (SourceNotReadOnlyError otherwise); every bulk session too.
    read_only: bool
    # The role's default_transaction_read_only: on, no later transaction of it can write either.
    role_read_only: bool

    def describe(self, ref: TableRef) -> SourceTable: ...

    def copy_batches(
        self, select_sql: str, *, batch_bytes: int, read_ahead: bool = True
    ) -> AbstractContextManager[Iterator[pa.RecordBatch]]:
        """The rows of `select_sql`, read in this snapshot, as Arrow record batches; `read_ahead`:
        decoded in a thread of their own ahead of the caller, else in the caller's thread."""
        ...

    def column_range(self, ref: TableRef, column: str, where: str | None) -> ColumnRange:
        """max(column) and the count of rows where it is NULL, among the rows `where` selects."""
        ...

    def estimate_rows(self, ref: TableRef, predicates: Sequence[str]) -> int | None:
        """The planner's estimate of the rows `predicates` select (pg_class.reltuples when there are
        none), or None when the table was never analyzed. Only shown to an operator, never trusted."""
        ...

    def can_see_other_sessions(self) -> bool:
        """Whether the role may read other sessions' transactions (pg_read_all_stats)."""
        ...

    def oldest_open_transaction_start(self) -> datetime | None:
        """The start of the oldest transaction still open in the database (another session's)."""
        ...

    def incremental_predicates(self, column: str, lower: Any) -> tuple[str, ...]:
        """Rows whose `column` is not NULL and, when `lower` is not None, at least `lower`."""
        ...

    def after_position_predicate(self, columns: Sequence[SourceColumn], position: Sequence[Any]) -> str:
        """Rows after `position` in the order of `columns`."""
        ...

    def offending_numeric_row(
        self, table: SourceTable, column: SourceColumn, *, precision: int, scale: int
    ) -> tuple[Any, ...] | None:
        """The primary key of one row whose `column` does not fit NUMBER(precision, scale), or None."""
        ...

    def table_blocks(self, ref: TableRef) -> tuple[int, int]:
        """(blocks, bytes) of the table's heap now: where its block ranges are cut."""
        ...

    def block_range_predicate(self, first: int | None, end: int | None) -> str:
        """The rows stored in blocks [first, end): None leaves that side open, so rows in blocks
        added after the size was read are never left out."""
        ...


class Source(Protocol):
    def snapshot(self) -> AbstractContextManager[Snapshot]: ...


# --- target: Snowflake -------------------------------------------------------------------------


class TargetSession(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    def submit(self, sql: str) -> str:
        """Start a long statement without waiting for it; returns its query id."""
        ...

    def query_finished(self, query_id: str) -> bool:
        """Whether the query (of any session of the same user) has finished; raises if it failed."""
        ...

    def query_result(self, query_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and rows of a finished query."""
        ...

    def close(self) -> None: ...


TargetSessionFactory = Callable[[str], TargetSession]  # query tag -> an open session


# --- staging: S3 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedObject:
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload started and never completed or aborted (its parts are billed)."""

    key: str
    upload_id: str
    initiated: datetime


class PartSink(Protocol):
    """Where one staged part's bytes go while it is written."""

    bytes_written: int

    def write(self, chunk: Any) -> int: ...

    def complete(self) -> Future[int]: ...

    def abort(self) -> None: ...


class Staging(Protocol):
    def open_upload(self, key: str) -> PartSink: ...

    def list_objects(self, prefix: str) -> Iterator[StagedObject]: ...

    def read_object(self, key: str) -> bytes:
        """A small object's bytes (a slice manifest); a large one is refused, never read whole."""
        ...

    def delete_keys(self, keys: list[str]) -> int: ...

    def list_pending_uploads(self, prefix: str) -> Iterator[PendingUpload]: ...

    def abort_upload(self, upload: PendingUpload) -> None: ...

    def close(self) -> None: ...


# --- state: DynamoDB ---------------------------------------------------------------------------


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
    last_verify: dict[str, Any] | None = None  # the latest verify's report

    def lease_live(self, now: float) -> bool:
        return self.lease_token is not None and self.lease_expires_at is not None and self.lease_expires_at > now

    @classmethod
    def empty(cls, table: str) -> TableState:
        return cls(table, None, None, 0, None, None, None, None, False)


class RunStateStore(Protocol):
    """What a run does with the state: its lease, watermark, checkpoint and history."""

    def get(self, table: str) -> TableState: ...

    def acquire_lease(self, table: str, owner: str, ttl_seconds: float) -> Lease: ...

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease: ...

    def release_lease(self, lease: Lease) -> None: ...

    def advance_watermark(self, lease: Lease, watermark: Watermark, column: str) -> None: ...

    def save_checkpoint(self, lease: Lease, checkpoint: Mapping[str, Any] | None) -> None: ...

    def clear_full_reload_request(self, lease: Lease) -> None: ...

    def record_run(self, table: str, run_report: Mapping[str, Any]) -> None: ...

    def record_verify(self, table: str, verify_report: Mapping[str, Any]) -> None:
        """Append a verify's report to the run history and make it the table's last_verify."""
        ...


class LiveRunsStore(Protocol):
    """What the staging cleanup asks the state: which runs still need their files."""

    def runs_in_progress(self) -> dict[str, frozenset[str]]: ...


class AdminStateStore(Protocol):
    """What the operator's admin actions do with the state (every change audited)."""

    def get(self, table: str) -> TableState: ...

    def run_history(self, table: str, limit: int = 20) -> list[dict[str, Any]]: ...

    def audit_log(self, table: str, limit: int = 50) -> list[dict[str, Any]]: ...

    def admin_set_watermark(
        self,
        table: str,
        watermark: Watermark,
        column: str | None,
        audit: AuditRecord,
        *,
        expected_version: int | None = None,
        dry_run: bool = False,
    ) -> TableState: ...

    def admin_reset(
        self, table: str, audit: AuditRecord, *, expected_version: int | None = None, dry_run: bool = False
    ) -> TableState: ...

    def admin_unlock(
        self,
        table: str,
        audit: AuditRecord,
        only_if_expired: bool = True,
        *,
        expected_version: int | None = None,
        dry_run: bool = False,
    ) -> TableState: ...

    # Last: inside the class body, `list` names this method from here on.
    def list(self) -> list[TableState]: ...


# --- invoker: Lambda ---------------------------------------------------------------------------


class Invoker(Protocol):
    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> None:
        """Start an asynchronous invocation of `function_name` with `payload`."""
        ...


# --- verify: digests of the source (PostgreSQL) ---------------------------------------------------


@dataclass(frozen=True)
class DigestScope:
    """Which source rows a verify digests, and how (see aurora_batch.digest)."""

    ref: TableRef
    keys: tuple[str, ...]  # source key columns, in key order
    row_columns: tuple[tuple[str, str], ...]  # (name, base type) of the columns the row hash covers, in order
    where: str | None = None  # the table's configured filter, already rendered
    pending_column: str | None = None  # incremental column: rows at or after `pending_from` are pending
    pending_from: Any = None  # None with a pending_column: every row with a value is pending
    # Only the rows stored in blocks [first, end), read on a connection of its own that imports the
    # snapshot, so that several ranges are digested at once; None: the whole table, on the snapshot's.
    block_range: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class BucketDigest:
    """Exact aggregates of one bucket: row count and the sums of the key and row hashes."""

    rows: int
    key_sum: int
    row_sum: int

    def __add__(self, other: BucketDigest) -> BucketDigest:
        """The digest of both buckets' rows together (of disjoint rows: block ranges)."""
        return BucketDigest(self.rows + other.rows, self.key_sum + other.key_sum, self.row_sum + other.row_sum)


@dataclass(frozen=True)
class DigestRow:
    """One row of a leaf: its hashes, its key (as the engine returned it) and whether it is pending."""

    key_hash: int
    row_hash: int | None
    key: tuple[Any, ...]
    pending: bool = False


class SourceDigests(Protocol):
    """Digests of the source, all read in the snapshot it was made from."""

    def bucket_digests(
        self, scope: DigestScope, modulus: int, within: tuple[int, Sequence[int]] | None
    ) -> dict[int, BucketDigest]:
        """Bucket (key hash mod `modulus`) -> digest; `within`: only rows whose key hash mod
        within[0] is one of within[1]."""
        ...

    def leaf_rows(self, scope: DigestScope, modulus: int, buckets: Sequence[int]) -> list[DigestRow]:
        """The rows of the given buckets."""
        ...

    def key_hash_predicate(self, scope: DigestScope, key_hashes: Sequence[int]) -> str:
        """A predicate selecting exactly the rows with these key hashes."""
        ...

    def key_count(self, scope: DigestScope, column: str, upper: Any) -> int:
        """The rows in scope whose `column` is not NULL and (unless `upper` is None) at most `upper`."""
        ...


SourceDigestsFactory = Callable[[Snapshot], SourceDigests]
