"""Replicate one table: lease -> extract -> stage -> load -> validate -> commit state.

The incremental protocol (see docs/ARCHITECTURE.md):
- lower bound: the stored watermark minus the lookback (or the event's last_value);
- upper bound: max(column) read inside the extract snapshot, capped at the start of the
  oldest transaction still open, so a late commit with an older value is read next time;
- the watermark moves only after the target commit (MERGE or SWAP) has succeeded, and
  never backwards. Any overlap is harmless: the MERGE deduplicates on the key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from aurora_batch.adapters.postgres import PostgresSource, Snapshot
from aurora_batch.adapters.s3 import S3Staging
from aurora_batch.adapters.snowflake import SessionFactory, SnowflakeSession
from aurora_batch.adapters.state_store import Lease, StateStore, TableState
from aurora_batch.config import Settings, TableOptions, parse_watermark_literal
from aurora_batch.errors import (
    AuroraBatchError,
    ConfigError,
    LockHeldError,
    SourceSchemaError,
    ValueConversionError,
)
from aurora_batch.logic import load as sql
from aurora_batch.logic.customize import BatchPipeline, build_pipeline
from aurora_batch.logic.extract import ExtractColumn, ExtractPlan, column_offending_row_sql, read_batches
from aurora_batch.logic.observe import StreamObserver, aggregate_specs
from aurora_batch.logic.stage import S3SinkFactory, Stager
from aurora_batch.model import (
    Mode,
    RunStatus,
    SourceTable,
    StagedPart,
    TargetColumn,
    TargetTable,
    quote_sf,
    snowflake_name,
)
from aurora_batch.observability import bind_run, traced_phase
from aurora_batch.watermark import Watermark, WatermarkType, watermark_type_for_pg

logger = logging.getLogger(__name__)

STAGING_SUFFIX = "__AB_STG_"
NEW_SUFFIX = "__AB_NEW_"


@dataclass
class Services:
    """Everything a run talks to, built by the caller (handler, CLI or test)."""

    source: PostgresSource
    snowflake: SessionFactory
    staging: S3Staging
    state: StateStore
    database: str
    schema: str
    masking_key: Callable[[], bytes] | None = None


class Progress(Protocol):
    def phase(self, name: str) -> None: ...

    def rows(self, rows: int, staged_bytes: int) -> None: ...


class _NoProgress:
    def phase(self, name: str) -> None:
        return None

    def rows(self, rows: int, staged_bytes: int) -> None:
        return None


@dataclass
class Budget:
    """The invocation's time limit: `remaining()` seconds left, or None for no limit."""

    remaining: Callable[[], float] | None = None
    margin_seconds: float = 120.0

    def low(self) -> bool:
        return self.remaining is not None and self.remaining() < self.margin_seconds

    @property
    def limited(self) -> bool:
        return self.remaining is not None


@dataclass
class RunReport:
    run_id: str
    table: str
    mode: str
    status: str = RunStatus.FAILED.value
    target: str | None = None
    rows_extracted: int = 0
    rows_staged: int = 0
    rows_loaded: int = 0
    rows_merged: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    bytes_staged: int = 0
    parts: int = 0
    watermark_before: str | None = None
    watermark_after: str | None = None
    null_watermark_rows: int = 0
    clamped_values: dict[str, int] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    duration_seconds: float = 0.0
    schema_changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    continuation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


# --- planning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """What one invocation extracted: its parts, what it saw, and the bounds it read."""

    plan: TablePlan
    parts: list[StagedPart]
    observer: StreamObserver
    finished: bool
    lower: Any
    upper: Any
    cap: Any


@dataclass(frozen=True)
class TablePlan:
    source: SourceTable
    columns: tuple[ExtractColumn, ...]
    target: TargetTable
    keys: tuple[str, ...]  # source key columns (primary key or merge_keys)
    watermark_column: ExtractColumn | None
    watermark_type: WatermarkType | None
    pipeline: BatchPipeline


def _require_columns(table: str, names: list[str], option: str, listed: Any) -> None:
    for name in listed or ():
        if name not in names:
            raise ConfigError(
                f"{option} names column {name!r}, which {table} does not have",
                field=option,
                table=table,
                column=name,
            )


def _check_named_columns(source: SourceTable, options: TableOptions) -> None:
    """Every column an option names exists in the source."""
    table, names = source.ref.qualified, [c.name for c in source.columns]
    _require_columns(table, names, "include_columns", options.include_columns)
    _require_columns(table, names, "exclude_columns", options.exclude_columns)
    _require_columns(table, names, "rename_columns", list(options.rename_columns or {}))
    _require_columns(table, names, "merge_keys", options.merge_keys)
    if options.incremental_column and options.incremental_column not in names:
        raise ConfigError(
            f"incremental_column {options.incremental_column!r} is not a column of {table}",
            field="incremental_column",
            table=table,
            column=options.incremental_column,
        )


def _staged_names(source: SourceTable, options: TableOptions, keys: tuple[str, ...]) -> dict[str, str]:
    """Selected source column -> Snowflake column name (keys and the watermark column always travel)."""
    table = source.ref.qualified
    selected = [c.name for c in source.columns if not options.include_columns or c.name in options.include_columns]
    selected = [name for name in selected if name not in (options.exclude_columns or ())]
    for required in (*keys, *([options.incremental_column] if options.incremental_column else [])):
        if required not in selected:
            selected.append(required)
    renames = options.rename_columns or {}
    staged = {name: snowflake_name(renames.get(name, name)) for name in selected}
    if len(set(staged.values())) != len(staged):
        raise ConfigError(
            f"two columns of {table} would land under the same Snowflake name",
            field="rename_columns",
            table=table,
        )
    return staged


def _target_table(
    source: SourceTable,
    options: TableOptions,
    services: Services,
    plan_columns: tuple[ExtractColumn, ...],
    keys: tuple[str, ...],
) -> TargetTable:
    staged = {c.source.name: c.staged_name for c in plan_columns}
    return TargetTable(
        database=services.database,
        schema=options.target_schema or services.schema,
        name=options.target_table or snowflake_name(source.ref.table),
        columns=tuple(
            TargetColumn(
                name=c.staged_name,
                source_name=c.source.name,
                sql_type=c.ctype.snowflake_type,
                staged_type=c.ctype.staged_type,
                load_expression=c.ctype.load_expression,
                nullable=c.source.nullable,
                comment=c.source.comment,
            )
            for c in plan_columns
        ),
        primary_key=tuple(staged[k] for k in keys),
        comment=source.comment,
    )


def plan_table(source: SourceTable, options: TableOptions, services: Services, mode: Mode) -> TablePlan:
    """Check the options against the catalog and decide every column's journey.

    Raises before anything is written: unknown columns, missing keys, a bad watermark column.
    """
    table = source.ref.qualified
    _check_named_columns(source, options)
    keys = tuple(options.merge_keys or source.primary_key)
    if mode is Mode.INCREMENTAL and not keys:
        raise SourceSchemaError(
            f"{table} has no primary key: set merge_keys for incremental mode, "
            "otherwise every run would append duplicates",
            table=table,
            field="merge_keys",
        )
    if options.incremental_column and options.masking and options.incremental_column in options.masking:
        raise ConfigError(
            "the incremental column cannot be masked",
            field="masking",
            table=table,
            column=options.incremental_column,
        )
    pipeline = build_pipeline(source, _staged_names(source, options, keys), options, services.masking_key)
    columns = pipeline.columns
    watermark_column = None
    watermark_type = None
    if options.incremental_column:
        watermark_column = next(c for c in columns if c.source.name == options.incremental_column)
        watermark_type = watermark_type_for_pg(
            watermark_column.source.type_name, table=table, column=options.incremental_column
        )
    target = _target_table(source, options, services, columns, keys)
    return TablePlan(source, columns, target, keys, watermark_column, watermark_type, pipeline)


# --- the run -------------------------------------------------------------------------------


class TableReplication:
    """One invocation's work on one table."""

    def __init__(
        self,
        options: TableOptions,
        settings: Settings,
        services: Services,
        *,
        budget: Budget | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.settings = settings
        self.services = services
        self.budget = budget or Budget()
        self.progress = progress or _NoProgress()
        self.clock = clock
        self.table = options.ref.qualified
        self.report = RunReport(run_id=new_run_id(), table=self.table, mode=options.mode.value)
        self._lease: Lease | None = None
        self._lease_renewed_at = 0.0
        self._session: SnowflakeSession | None = None
        self._target_ready = False

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        self.progress.phase(name)
        started = time.perf_counter()
        try:
            with traced_phase(name):
                yield
        finally:
            elapsed = time.perf_counter() - started
            self.report.phases[name] = round(self.report.phases.get(name, 0.0) + elapsed, 3)

    def _session_for_run(self) -> SnowflakeSession:
        if self._session is None:
            tag = f"aurora-batch:{self.table}:{self.report.run_id}"
            self._session = self.services.snowflake(tag)
        return self._session

    def _crashpoint(self, name: str) -> None:
        """Failure injection for the convergence tests: AURORA_BATCH_CRASH_AT=<name> kills the process
        here with SIGKILL, as a Lambda timeout or an out-of-memory kill would. Unset in production."""
        if self.settings.crash_at == name:
            os.kill(os.getpid(), signal.SIGKILL)

    def _keep_lease(self) -> None:
        """Renew the lease once a third of it has passed, so long runs never lose it."""
        if self._lease is None:
            return
        if self.clock() - self._lease_renewed_at >= self.settings.lease_seconds / 3:
            self._lease = self.services.state.renew_lease(self._lease, self.settings.lease_seconds)
            self._lease_renewed_at = self.clock()

    # -- entry point -----------------------------------------------------------------------

    def run(self) -> RunReport:
        started = self.clock()
        self.report.started_at = datetime.fromtimestamp(started, UTC).isoformat()
        store = self.services.state
        try:
            self._lease = store.acquire_lease(self.table, self.report.run_id, self.settings.lease_seconds)
            self._lease_renewed_at = self.clock()
        except LockHeldError as exc:
            self.report.status = RunStatus.LOCKED.value
            self.report.error = exc.to_dict()
            self._finish(started, record=False)
            return self.report
        try:
            state = store.get(self.table)
            self._run_locked(state)
        except AuroraBatchError as exc:
            self.report.status = RunStatus.FAILED.value
            self.report.error = exc.to_dict()
            self._discard_work_tables()
            logger.error("run failed", extra={"error": exc.to_dict()})
        except Exception as exc:  # unexpected: report it, never hide it
            self.report.status = RunStatus.FAILED.value
            self.report.error = {"error": type(exc).__name__, "message": str(exc), "retryable": False}
            self._discard_work_tables()
            logger.exception("run failed unexpectedly")
        finally:
            self._finish(started, record=True)
        return self.report

    def _finish(self, started: float, *, record: bool) -> None:
        finished = self.clock()
        self.report.finished_at = datetime.fromtimestamp(finished, UTC).isoformat()
        self.report.duration_seconds = round(finished - started, 3)
        if self._session is not None:
            self._session.close()
            self._session = None
        if record:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.record_run(self.table, self.report.to_dict())
        if self._lease is not None:
            with contextlib.suppress(AuroraBatchError):
                self.services.state.release_lease(self._lease)
            self._lease = None

    # -- the locked part ---------------------------------------------------------------------

    def _run_locked(self, state: TableState) -> None:
        checkpoint = state.checkpoint if state.checkpoint and state.checkpoint.get("mode") == "full" else None
        mode = self.options.mode
        if self.options.full_refresh or state.full_reload_requested or checkpoint is not None:
            mode = Mode.FULL
        self.report.mode = mode.value
        if checkpoint is not None:
            self.report.run_id = str(checkpoint["run_id"])
            bind_run(self.report.run_id, self.table)  # log lines now carry the resumed run's id
        self.report.watermark_before = state.watermark.value if state.watermark else None
        if mode is Mode.FULL:
            self._full_refresh(state, checkpoint)
        else:
            self._incremental(state)

    # -- extract + stage -------------------------------------------------------------------------

    def _stage(
        self,
        snapshot: Snapshot,
        plan: TablePlan,
        extract: ExtractPlan,
        observer: StreamObserver,
        first_index: int,
    ) -> tuple[list[StagedPart], bool]:
        """Stream the extract into parts. Returns the parts and whether the stream was finished
        (False: stopped early at a part boundary because the time budget ran low)."""
        sinks = S3SinkFactory(self.services.staging, self.settings.staging_prefix)
        stager = Stager(
            sinks,
            self._run_path(plan),
            plan.pipeline.output_schema,
            file_format=self.settings.staging_format,
            part_target_bytes=self.settings.part_target_bytes,
            part_target_rows=self.settings.part_target_rows,
            first_index=first_index,
        )
        finished = True
        try:
            with (
                self._phase("extract"),
                snapshot.copy_batches(extract.select_sql(), batch_bytes=self.settings.extract_batch_bytes) as raw,
            ):
                batches = read_batches(raw, extract, batch_rows=self.options.batch_size, table_name=self.table)
                staged_parts_before = 0
                for batch in plan.pipeline.apply(batches):
                    observer.observe(batch)
                    stager.write(batch)
                    self._crashpoint("extract")
                    self.progress.rows(observer.rows, sum(p.bytes for p in stager.parts))
                    if len(stager.parts) != staged_parts_before:
                        staged_parts_before = len(stager.parts)
                        self._keep_lease()
                    if self.budget.low() and extract.order_by:
                        stager.finish_part()
                        finished = False
                        break
            with self._phase("upload"):
                parts = stager.close()
        except ValueConversionError as exc:
            stager.abort()
            raise self._name_offending_row(exc, snapshot, extract) from exc
        except BaseException:
            stager.abort()
            raise
        return parts, finished

    def _run_path(self, plan: TablePlan) -> str:
        """`<schema>.<table>/<run_id>`, under STAGING_PREFIX: the stage sees the same relative path."""
        return f"{plan.source.ref.schema}.{plan.source.ref.table}/{self.report.run_id}"

    def _name_offending_row(
        self, exc: ValueConversionError, snapshot: Snapshot, extract: ExtractPlan
    ) -> ValueConversionError:
        column_name = exc.fields.get("column")
        column = next((c for c in extract.columns if c.source.name == column_name), None)
        if column is None:
            return exc
        query = column_offending_row_sql(extract, column)
        if query is None:
            return exc
        # The COPY ran on its own connection: the snapshot that fed it is intact, so the row
        # found is one the extract read.
        row = snapshot.query_one(query)
        if row is None:
            return exc
        key = dict(zip(extract.table.primary_key, (str(v) for v in row), strict=True))
        return ValueConversionError(
            f"{self.table}.{column_name}: the value in the row with key {key} does not fit "
            f"{column.ctype.snowflake_type} without rounding",
            table=self.table,
            column=column_name,
            key=key,
            run_id=self.report.run_id,
        )

    def _extract_plan(self, plan: TablePlan, predicates: list[str], order_by: tuple[str, ...]) -> ExtractPlan:
        if self.options.where:
            predicates = [self.options.where, *predicates]
        return ExtractPlan(plan.source, plan.pipeline.source_columns, tuple(predicates), order_by)

    def _observer(self, plan: TablePlan, position: tuple[str, ...] | None = None) -> StreamObserver:
        return StreamObserver(
            specs=aggregate_specs(plan.columns, plan.keys),
            watermark_column=plan.watermark_column.staged_name if plan.watermark_column else None,
            clamped_sentinels={
                c.staged_name: c.ctype.clamped_sentinels for c in plan.columns if c.ctype.clamped_sentinels
            },
            key_columns=tuple(_staged_name(plan, k) for k in (position or plan.keys)),
        )

    # -- load ------------------------------------------------------------------------------

    def _prepare_target(self, target: TargetTable, *, create: bool) -> None:
        """Evolve an existing target to the source's shape (or refuse an incompatible change).
        A missing target is created only when `create`: after a successful extract, so a run that
        fails before loading leaves nothing behind in Snowflake."""
        if self._target_ready:
            return  # already created or evolved earlier in this invocation
        session = self._session_for_run()
        with self._phase("prepare"):
            existing = self._existing_columns(target)
            if existing is None:
                if create:
                    session.execute(sql.create_table_sql(target))
                    self.report.schema_changes.append("created")
                    self._target_ready = True
                return
            statements = sql.evolution_statements(target, existing)
            for statement in statements:
                session.execute(statement)
            self.report.schema_changes.extend(statements)
            self._target_ready = True

    def _drop_stale_work_tables(self, target: TargetTable, keep: set[str]) -> None:
        """Work tables left by a run that crashed are dropped before a new one starts."""
        session = self._session_for_run()
        rows = session.execute(
            f"SELECT TABLE_NAME FROM {quote_sf(target.database)}.INFORMATION_SCHEMA.TABLES "
            f"WHERE TABLE_SCHEMA = {sql.literal(target.schema)} "
            f"AND (STARTSWITH(TABLE_NAME, {sql.literal(target.name + STAGING_SUFFIX)}) "
            f"OR STARTSWITH(TABLE_NAME, {sql.literal(target.name + NEW_SUFFIX)}))"
        )
        for (name,) in rows:
            if name not in keep:
                session.execute(sql.drop_table_sql(target.sibling(name)))

    def _copy_parts(self, target: TargetTable, staging: str, parts: list[StagedPart]) -> int:
        session = self._session_for_run()
        loaded = 0
        with self._phase("copy"):
            for start in range(0, len(parts), sql.MAX_FILES_PER_COPY):
                chunk = parts[start : start + sql.MAX_FILES_PER_COPY]
                statement = sql.copy_into_sql(
                    staging,
                    self.settings.snowflake_stage,
                    [p.stage_path for p in chunk],
                    self.settings.staging_format,
                )
                names, rows = session.execute_with_columns(statement)
                results = sql.parse_copy_results(names, rows)
                loaded += sql.check_copy_results(chunk, results, table=self.table, run_id=self.report.run_id)
        self.report.rows_loaded += loaded
        return loaded

    def _validate(self, table_sql: str, plan: TablePlan, observer: StreamObserver, where: str) -> None:
        session = self._session_for_run()
        specs = observer.specs
        with self._phase("validate"):
            row = session.execute(sql.aggregates_sql(table_sql, specs))[0]
            observed = sql.compare_aggregates(
                observer.expected(), row, specs, where=where, table=self.table, run_id=self.report.run_id
            )
        self.report.validation[where] = {k: str(v) for k, v in observed.items()}

    def _cleanup(self, run_path: str) -> None:
        """Delete the run's staged files, only once the target has committed every part of the run
        (a run continued over several invocations included). Failed runs keep their files."""
        if not self.settings.staging_cleanup:
            return
        prefix = self.settings.staging_prefix.strip("/")
        with self._phase("cleanup"):
            listed = self.services.staging.list_objects(f"{prefix}/{run_path}/" if prefix else f"{run_path}/")
            keys = [o.key for o in listed]
            self.services.staging.delete_keys(keys[:1])
            self._crashpoint("cleanup")
            self.services.staging.delete_keys(keys[1:])

    def _discard_work_tables(self) -> None:
        """After a failure nothing half-loaded stays behind (staged files stay for the cleanup)."""
        names = getattr(self, "_work_tables", [])
        if not names or self._session is None:
            return
        for name in names:
            with contextlib.suppress(AuroraBatchError):
                self._session.execute(sql.drop_table_sql(name))

    def _record_counts(self, observer: StreamObserver, parts: list[StagedPart], *, rows_before: int = 0) -> None:
        self.report.rows_extracted += observer.rows - rows_before
        self.report.rows_staged += sum(p.rows for p in parts)
        self.report.bytes_staged += sum(p.bytes for p in parts)
        self.report.parts += len(parts)
        self.report.clamped_values = dict(observer.clamped)
        for column, count in observer.clamped.items():
            self.report.warnings.append(
                f"{count} value(s) of {column} were +-infinity or outside Snowflake's range and were clamped"
            )

    # -- incremental -------------------------------------------------------------------------------

    def _plan(self, snapshot: Snapshot, mode: Mode) -> TablePlan:
        with self._phase("plan"):
            source = snapshot.describe(self.options.ref)
            plan = plan_table(source, self.options, self.services, mode)
            if self.options.on_incompatible_change == "versioned_column":
                plan = self._with_versioned_columns(source, plan, mode)
        self.report.target = f"{plan.target.database}.{plan.target.schema}.{plan.target.name}"
        return plan

    def _with_versioned_columns(self, source: SourceTable, plan: TablePlan, mode: Mode) -> TablePlan:
        """The plan again, each column whose type changed incompatibly loading into its versioned
        column instead. Keys and the watermark column are never versioned: such a change still fails."""
        existing = self._existing_columns(plan.target)
        if not existing:
            return plan
        keep = [*plan.target.primary_key, *([plan.watermark_column.staged_name] if plan.watermark_column else [])]
        versions = sql.versioned_columns(plan.target, existing, keep)
        if not versions:
            return plan
        source_names = {c.staged_name: c.source.name for c in plan.columns}
        renames = dict(self.options.rename_columns or {})
        for column, version in versions.items():
            renames[source_names[column]] = version
            self.report.warnings.append(
                f"{source_names[column]} changed type in a way {column} cannot take: its values now load into "
                f"{version}, and {column} keeps the values loaded before"
            )
        versioned_options = self.options.model_copy(update={"rename_columns": renames})
        return plan_table(source, versioned_options, self.services, mode)

    def _existing_columns(self, target: TargetTable) -> list[sql.ExistingColumn] | None:
        """The target's columns as Snowflake describes them, or None when it does not exist yet."""
        session = self._session_for_run()
        if int(session.execute(sql.table_exists_sql(target))[0][0]) == 0:
            return None
        rows = session.execute(sql.describe_columns_sql(target))
        return [sql.ExistingColumn(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def _incremental(self, state: TableState) -> None:
        saved = state.checkpoint if state.checkpoint and state.checkpoint.get("mode") == "incremental" else None
        window = self._incremental_extract(state, saved)
        plan, parts, observer = window.plan, window.parts, window.observer
        self._record_counts(observer, parts)
        self._crashpoint("upload")
        self._prepare_target(plan.target, create=True)
        if parts:
            self._merge_parts(plan, parts, observer)
        # The target has committed: now, and only now, the watermark may move.
        newest = window.upper if window.finished else observer.last_watermark_value
        self._advance_watermark(state, plan, _min_value(newest, window.cap))
        if window.finished:
            if saved is not None:
                self._save_checkpoint(None)
        else:
            self._save_checkpoint(
                {
                    "mode": "incremental",
                    "run_id": self.report.run_id,
                    "lower": _jsonable(window.lower),
                    "cap": _jsonable(window.cap),
                    "resume_after": observer.last_key,
                }
            )
        self._cleanup(self._run_path(plan))
        self._conclude(window.finished)

    def _incremental_extract(self, state: TableState, saved: dict[str, Any] | None) -> _Window:
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, Mode.INCREMENTAL)
            assert plan.watermark_column is not None and plan.watermark_type is not None
            if state.watermark is not None and state.watermark.type is not plan.watermark_type:
                raise ConfigError(
                    f"the stored watermark is a {state.watermark.type.value} but {self.options.incremental_column} "
                    f"is now a {plan.watermark_type.value}: reset the watermark",
                    table=self.table,
                    column=self.options.incremental_column,
                )
            # A continued run keeps its lower bound and resumes after the last row staged.
            lower = _restore(saved.get("lower")) if saved else self._lower_bound(state, plan)
            upper, cap = self._bounds(snapshot, plan)
            if saved:
                # Never let the watermark pass a transaction open in any invocation of this run.
                cap = _min_value(cap, _restore(saved.get("cap"))) if cap is not None else _restore(saved.get("cap"))
            column = plan.watermark_column.source.name
            # NULLs never compare >= a bound: they are counted and left to the next full refresh.
            predicates = [f"{_q(column)} IS NOT NULL"]
            if lower is not None:
                # Only the value goes through mogrify: an identifier may hold a literal %.
                predicates.append(f"{_q(column)} >= {snapshot.mogrify('%s', (lower,))}")
            order_by = (column, *[k for k in plan.keys if k != column])
            if saved and saved.get("resume_after"):
                predicates.append(_after_position_predicate(snapshot, plan, order_by, saved["resume_after"]))
            observer = self._observer(plan, position=order_by)
            self._prepare_target(plan.target, create=False)  # an incompatible change fails before extracting
            parts, finished = self._stage(snapshot, plan, self._extract_plan(plan, predicates, order_by), observer, 0)
        return _Window(plan, parts, observer, finished, lower, upper, cap)

    def _merge_parts(self, plan: TablePlan, parts: list[StagedPart], observer: StreamObserver) -> None:
        assert plan.watermark_column is not None
        staging = plan.target.sibling(f"{plan.target.name}{STAGING_SUFFIX}{_short(self.report.run_id)}")
        self._work_tables = [staging]
        session = self._session_for_run()
        self._drop_stale_work_tables(plan.target, keep=set())
        session.execute(sql.create_staging_sql(plan.target, staging))
        self._copy_parts(plan.target, staging, parts)
        self._crashpoint("copy")
        self._validate(staging, plan, observer, "staging")
        with self._phase("merge"):
            keys = [_staged_name(plan, k) for k in plan.keys]
            merge = sql.merge_sql(plan.target, staging, keys, plan.watermark_column.staged_name)
            names, rows = session.execute_with_columns(merge)
            inserted, updated = _merge_counts(names, rows)
        self.report.rows_inserted, self.report.rows_updated = inserted, updated
        self.report.rows_merged = inserted + updated
        self._crashpoint("commit")
        session.execute(sql.drop_table_sql(staging))
        self._work_tables = []

    def _advance_watermark(self, state: TableState, plan: TablePlan, value: Any) -> None:
        """Move the watermark forward to `value` (never backwards); report before and after."""
        self.report.watermark_after = self.report.watermark_before
        if value is None or plan.watermark_type is None:
            return
        candidate = Watermark.of(_as_watermark_value(value, plan.watermark_type), plan.watermark_type)
        if state.watermark is not None and not candidate > state.watermark:
            return
        assert self._lease is not None
        self._keep_lease()
        with self._phase("commit"):
            self.services.state.advance_watermark(self._lease, candidate, self.options.incremental_column or "")
        self.report.watermark_after = candidate.value

    def _save_checkpoint(self, checkpoint: dict[str, Any] | None) -> None:
        assert self._lease is not None
        self.services.state.save_checkpoint(self._lease, checkpoint)

    def _conclude(self, finished: bool) -> None:
        if finished:
            self.report.status = RunStatus.SUCCEEDED.value
            return
        self.report.status = RunStatus.CONTINUED.value
        self.report.continuation = {
            "schema_name": self.options.schema_name,
            "table_name": self.options.table_name,
        }

    def _lower_bound(self, state: TableState, plan: TablePlan) -> Any:
        assert plan.watermark_type is not None
        if self.options.last_value is not None:
            try:
                return _as_watermark_value(parse_watermark_literal(self.options.last_value), plan.watermark_type)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"last_value {self.options.last_value!r} cannot be read as a {plan.watermark_type.value}",
                    field="last_value",
                    table=self.table,
                    column=self.options.incremental_column,
                ) from exc
        if state.watermark is None:
            return None
        value = state.watermark.parsed
        if plan.watermark_type is WatermarkType.INTEGER:
            assert isinstance(value, int)
            return value - self.options.lookback_integer
        if plan.watermark_type is WatermarkType.DATE:
            assert isinstance(value, date)
            days = -(-self.options.lookback_seconds // 86_400)
            return value - timedelta(days=days)
        assert isinstance(value, datetime)
        return value - timedelta(seconds=self.options.lookback_seconds)

    def _bounds(self, snapshot: Snapshot, plan: TablePlan) -> tuple[Any, Any]:
        """Upper bound and the oldest-open-transaction cap (or None), read in the snapshot; the rows
        with a NULL watermark are counted into the report."""
        assert plan.watermark_column is not None and plan.watermark_type is not None
        col = _q(plan.watermark_column.source.name)
        where = f" WHERE {self.options.where}" if self.options.where else ""
        and_where = f" AND ({self.options.where})" if self.options.where else ""
        row = snapshot.query_one(f"SELECT max({col}) FROM {plan.source.ref.pg_sql}{where}")
        upper = row[0] if row else None
        null_row = snapshot.query_one(f"SELECT count(*) FROM {plan.source.ref.pg_sql} WHERE {col} IS NULL{and_where}")
        self._report_null_watermarks(int(null_row[0]) if null_row else 0)
        return upper, self._oldest_open_transaction(snapshot, plan)

    def _report_null_watermarks(self, null_rows: int) -> None:
        self.report.null_watermark_rows = null_rows
        if null_rows and self.report.mode == Mode.INCREMENTAL.value:
            self.report.warnings.append(
                f"{null_rows} row(s) have a NULL {self.options.incremental_column}; incremental runs skip them "
                "and the next full refresh picks them up"
            )

    def _oldest_open_transaction(self, snapshot: Snapshot, plan: TablePlan) -> Any:
        """The start of the oldest transaction still open, as a watermark value, or None."""
        assert plan.watermark_type is not None
        cap = None
        if plan.watermark_type in (WatermarkType.TIMESTAMP, WatermarkType.TIMESTAMPTZ, WatermarkType.DATE):
            visible = snapshot.query_one(
                "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') "
                "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            )
            if visible and visible[0]:
                oldest = snapshot.query_one(
                    "SELECT min(xact_start) FROM pg_stat_activity "
                    "WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()"
                )
                if oldest and oldest[0] is not None:
                    cap = _convert_cap(oldest[0], plan.watermark_type)
            else:
                message = (
                    "cannot read other sessions in pg_stat_activity (grant pg_read_all_stats); "
                    f"late commits are covered only by the lookback of {self.options.lookback_seconds}s"
                )
                logger.warning(message, extra={"table": self.table})
                self.report.warnings.append(message)
        return cap

    # -- full refresh ------------------------------------------------------------------------------

    def _full_refresh(self, state: TableState, checkpoint: dict[str, Any] | None) -> None:
        window, staging, first_index = self._full_extract(checkpoint)
        plan, parts, observer = window.plan, window.parts, window.observer
        self._crashpoint("upload")
        self._prepare_target(plan.target, create=True)
        self._work_tables = [staging]
        self._drop_stale_work_tables(plan.target, keep={_name_of(staging)})
        self._session_for_run().execute(sql.create_staging_sql(plan.target, staging))
        self._copy_parts(plan.target, staging, parts)
        self._crashpoint("copy")
        if not window.finished:
            self._save_checkpoint(
                {
                    "mode": "full",
                    "run_id": self.report.run_id,
                    "next_part": first_index + len(parts),
                    "resume_after": observer.last_key,
                    "observed": observer.to_checkpoint(),
                    "upper": _jsonable(window.upper),
                    "cap": _jsonable(window.cap),
                }
            )
            self._work_tables = []  # the staging table carries over to the next invocation
            self._conclude(finished=False)
            return
        self._swap(plan, staging, observer)
        if checkpoint is not None or state.checkpoint is not None:
            self._save_checkpoint(None)
        if state.full_reload_requested:
            assert self._lease is not None
            self.services.state.clear_full_reload_request(self._lease)
        self._advance_watermark(state, plan, _min_value(window.upper, window.cap))
        self._cleanup(self._run_path(plan))
        self._conclude(finished=True)

    def _full_extract(self, checkpoint: dict[str, Any] | None) -> tuple[_Window, str, int]:
        """Extract (the rest of) the table into parts; returns the window, the staging table and
        the first part number of this invocation."""
        with self.services.source.snapshot() as snapshot:
            plan = self._plan(snapshot, Mode.FULL)
            observer = self._observer(plan)
            predicates: list[str] = []
            first_index = 0
            if checkpoint is not None and not self._checkpoint_usable(checkpoint, plan):
                # The work table is gone or differs: start this refresh over, safely.
                checkpoint = None
                self.report.run_id = new_run_id()
                self._save_checkpoint(None)
            if checkpoint is not None:
                observer.restore(checkpoint["observed"])
                first_index = int(checkpoint["next_part"])
                predicates.append(_after_position_predicate(snapshot, plan, plan.keys, checkpoint["resume_after"]))
                upper, cap = _restore(checkpoint.get("upper")), _restore(checkpoint.get("cap"))
            elif plan.watermark_column is not None:
                upper, cap = self._bounds(snapshot, plan)
            else:
                upper = cap = None
            staging = self._staging_name(plan)
            self._prepare_target(plan.target, create=False)  # an incompatible change fails before extracting
            rows_before = observer.rows
            # Resumable only in key order: ordered when the invocation has a time limit.
            ordered = plan.keys if (self.budget.limited and plan.source.primary_key) else ()
            extract = self._extract_plan(plan, predicates, tuple(ordered))
            parts, finished = self._stage(snapshot, plan, extract, observer, first_index)
        self._record_counts(observer, parts, rows_before=rows_before)
        return _Window(plan, parts, observer, finished, None, upper, cap), staging, first_index

    def _staging_name(self, plan: TablePlan) -> str:
        return plan.target.sibling(f"{plan.target.name}{STAGING_SUFFIX}{_short(self.report.run_id)}")

    def _swap(self, plan: TablePlan, staging: str, observer: StreamObserver) -> None:
        """Build the new table beside the target, validate it, and swap it in atomically."""
        self._validate(staging, plan, observer, "staging")
        session = self._session_for_run()
        new_table = plan.target.sibling(f"{plan.target.name}{NEW_SUFFIX}{_short(self.report.run_id)}")
        self._work_tables = [staging, new_table]
        with self._phase("swap"):
            session.execute(sql.create_like_sql(plan.target, new_table))
            session.execute(sql.insert_from_staging_sql(plan.target, new_table, staging))
            self._validate(new_table, plan, observer, "target")
            session.execute(sql.swap_sql(plan.target, new_table))
            self._crashpoint("commit")
            self.report.rows_merged = observer.rows
            session.execute(sql.drop_table_sql(new_table))
            session.execute(sql.drop_table_sql(staging))
        self._work_tables = []

    def _checkpoint_usable(self, checkpoint: dict[str, Any], plan: TablePlan) -> bool:
        """The staging table still holds exactly the rows the checkpoint counted."""
        session = self._session_for_run()
        try:
            row = session.execute(f"SELECT COUNT(*) FROM {self._staging_name(plan)}")
        except AuroraBatchError:
            return False
        return bool(row) and int(row[0][0]) == int(checkpoint["observed"]["rows"])


# --- small helpers -------------------------------------------------------------------------------


def _q(name: str) -> str:
    from aurora_batch.model import quote_pg

    return quote_pg(name)


def _staged_name(plan: TablePlan, source_name: str) -> str:
    return next(c.staged_name for c in plan.columns if c.source.name == source_name)


def _short(run_id: str) -> str:
    return run_id.replace("-", "_").upper()


def _name_of(qualified: str) -> str:
    return qualified.rsplit(".", 1)[-1].strip('"').replace('""', '"')


def _merge_counts(names: list[str], rows: list[tuple[Any, ...]]) -> tuple[int, int]:
    if not rows:
        return 0, 0
    values = dict(zip(names, rows[0], strict=False))
    inserted = int(values.get("number of rows inserted", rows[0][0]) or 0)
    updated = int(values.get("number of rows updated", rows[0][1] if len(rows[0]) > 1 else 0) or 0)
    return inserted, updated


def _min_value(value: Any, cap: Any) -> Any:
    if value is None:
        return None
    if cap is None:
        return value
    return min(value, cap)


def _convert_cap(xact_start: datetime, kind: WatermarkType) -> Any:
    if kind is WatermarkType.DATE:
        return xact_start.astimezone(UTC).date()
    if kind is WatermarkType.TIMESTAMP:
        return xact_start.astimezone(UTC).replace(tzinfo=None)
    return xact_start.astimezone(UTC)


def _as_watermark_value(value: Any, kind: WatermarkType) -> Any:
    """Bring a value read from the source or given by a person to the column's watermark type."""
    if kind is WatermarkType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("not an integer")
        return value
    if kind is WatermarkType.DATE:
        if isinstance(value, datetime):
            raise TypeError("a timestamp is not a date")
        if not isinstance(value, date):
            raise TypeError("not a date")
        return value
    if isinstance(value, datetime):
        if kind is WatermarkType.TIMESTAMPTZ:
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        as_datetime = datetime(value.year, value.month, value.day)
        return as_datetime.replace(tzinfo=UTC) if kind is WatermarkType.TIMESTAMPTZ else as_datetime
    raise TypeError("not a timestamp")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return {"iso": value.isoformat(), "kind": type(value).__name__}
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict) and "iso" in value:
        if value["kind"] == "date":
            return date.fromisoformat(value["iso"])
        return datetime.fromisoformat(value["iso"])
    return value


def _after_position_predicate(
    snapshot: Snapshot, plan: TablePlan, order_by: tuple[str, ...], position: list[str]
) -> str:
    """Rows after a position in the extract's order: `(c1, c2) > (v1::type1, v2::type2)`."""
    columns = [plan.source.column(name) for name in order_by]
    left = ", ".join(_q(c.name) for c in columns)
    right = ", ".join(
        f"{snapshot.mogrify('%s', (value,))}::{c.pg_type}" for c, value in zip(columns, position, strict=True)
    )
    return f"({left}) > ({right})"
