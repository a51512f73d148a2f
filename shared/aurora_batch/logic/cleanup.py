"""Delete the staged files nobody needs any more.

A run deletes its own files once its target has committed; what stays behind belongs to runs
that failed or died. This pass removes objects under the staging prefix older than a given age
(and aborts multipart uploads started before it), except those of a run still in progress
according to the state table: a live lease, or a checkpoint a later invocation resumes from.

Staged keys look like `<prefix>/<schema>.<table>/<run_id>/part-NNNNN.parquet`; a state-machine
run stages below its run too (`<run_id>/slice-NNNN/…`, `<run_id>/catch-up/…`, `<run_id>/manifests/…`).
Keys of any other shape under the prefix are counted under "(other)" and deleted by age alone. The run is
idempotent: deleting a key that is already gone is not an error, so a retry only finishes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from aurora_batch.config import parse_event
from aurora_batch.model import TableRef, staged_key
from aurora_batch.ports import LiveRunsStore, StagedObject, Staging

logger = logging.getLogger(__name__)

OTHER_KEYS = "(other)"
DELETE_BATCH = 1000  # keys collected before one delete call (S3 DeleteObjects takes at most 1000)


class CleanupRequest(BaseModel):
    """One cleanup pass, as sent by the schedule (or an operator) or built by the CLI."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    older_than_hours: float = Field(default=24.0, ge=0, allow_inf_nan=False)
    dry_run: StrictBool = False
    table: StrictStr | None = None  # schema.table: only this table's files

    @field_validator("table")
    @classmethod
    def _qualified_table(cls, table: str | None) -> str | None:
        return None if table is None else TableRef.parse(table).qualified

    @classmethod
    def from_event(cls, event: Mapping[str, Any] | None) -> CleanupRequest:
        """Validate an event; a bad one raises ConfigError naming the field and the value received."""
        return parse_event(cls, event or {})


@dataclass
class TableTally:
    """What one table's files came to. In a dry run, "deleted" and "aborted" mean "would be"."""

    objects_deleted: int = 0
    bytes_deleted: int = 0
    objects_kept_live: int = 0
    objects_kept_recent: int = 0
    uploads_aborted: int = 0
    uploads_kept_live: int = 0


class _Sweep:
    """One pass over the staging prefix: what to delete, what to keep and why, per table."""

    def __init__(self, request: CleanupRequest, staging: Staging, root: str, live_runs: frozenset[str]) -> None:
        self.request, self.staging, self.root, self.live_runs = request, staging, root, live_runs
        self.tallies: dict[str, TableTally] = {}
        self._pending: list[tuple[StagedObject, TableTally]] = []

    def _tally(self, key: str) -> tuple[TableTally, str | None]:
        table, run_id = _owner(key, self.root)
        return self.tallies.setdefault(table, TableTally()), run_id

    def objects(self, listed: str, cutoff: datetime) -> None:
        for staged in self.staging.list_objects(listed):
            tally, run_id = self._tally(staged.key)
            if run_id in self.live_runs:
                tally.objects_kept_live += 1
            elif staged.last_modified >= cutoff:
                tally.objects_kept_recent += 1
            else:
                self._pending.append((staged, tally))
                if len(self._pending) == DELETE_BATCH:
                    self._delete_pending()
        self._delete_pending()

    def _delete_pending(self) -> None:
        if not self.request.dry_run:
            self.staging.delete_keys([staged.key for staged, _ in self._pending])
        for staged, tally in self._pending:
            tally.objects_deleted += 1
            tally.bytes_deleted += staged.size
        self._pending.clear()

    def uploads(self, listed: str, cutoff: datetime) -> None:
        for upload in self.staging.list_pending_uploads(listed):
            tally, run_id = self._tally(upload.key)
            if run_id in self.live_runs:
                tally.uploads_kept_live += 1
            elif upload.initiated < cutoff:
                if not self.request.dry_run:
                    self.staging.abort_upload(upload)
                tally.uploads_aborted += 1

    def totals(self) -> TableTally:
        totals = TableTally()
        for tally in self.tallies.values():
            for name, value in asdict(tally).items():
                setattr(totals, name, getattr(totals, name) + value)
        return totals


def run_cleanup(
    request: CleanupRequest,
    staging: Staging,
    state: LiveRunsStore,
    prefix: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Delete (or in a dry run, only count) what the request covers; return the per-table tally."""
    moment = now or datetime.now(UTC)
    cutoff = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - timedelta(hours=request.older_than_hours)
    root = staged_key(prefix, "")
    listed = f"{root}{request.table}/" if request.table else root
    # Read before listing: a run that starts later writes objects newer than the cutoff.
    live = {
        table: run_ids
        for table, run_ids in state.runs_in_progress().items()
        if request.table is None or table == request.table
    }
    sweep = _Sweep(request, staging, root, frozenset(run_id for run_ids in live.values() for run_id in run_ids))
    sweep.objects(listed, cutoff)
    sweep.uploads(listed, cutoff)
    totals = sweep.totals()
    result = {
        "dry_run": request.dry_run,
        "prefix": listed,
        "older_than_hours": request.older_than_hours,
        "cutoff": cutoff.isoformat(),
        **asdict(totals),
        "tables": {table: asdict(tally) for table, tally in sorted(sweep.tallies.items())},
        "runs_in_progress": {table: sorted(run_ids) for table, run_ids in sorted(live.items())},
    }
    logger.info("cleanup finished", extra={"dry_run": request.dry_run, "cutoff": result["cutoff"], **asdict(totals)})
    return result


def _owner(key: str, root: str) -> tuple[str, str | None]:
    """(schema.table, run_id) of a staged key, or (OTHER_KEYS, None) for a key of another shape."""
    segments = key[len(root) :].split("/")
    if len(segments) >= 3 and all(segments) and "." in segments[0]:
        return segments[0], segments[1]
    return OTHER_KEYS, None
