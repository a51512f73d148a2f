"""The source side of a run: plan against the catalog, read the incremental bounds, and stream
the extract into staged parts, all inside one snapshot."""

from __future__ import annotations

import logging
from typing import Any

from aurora_batch.errors import ValueConversionError
from aurora_batch.logic import load as sql
from aurora_batch.logic.extract import ExtractPlan, read_batches
from aurora_batch.logic.observe import StreamObserver, aggregate_specs
from aurora_batch.logic.replicate.plan import TablePlan, plan_table, staged_name
from aurora_batch.logic.replicate.slices import SliceSteps
from aurora_batch.logic.stage import S3SinkFactory, Stager
from aurora_batch.model import Mode, SourceTable, StagedPart
from aurora_batch.ports import Snapshot
from aurora_batch.watermark import WatermarkType, cap_from_transaction_start

logger = logging.getLogger(__name__)


class SourceSteps(SliceSteps):
    def _plan(self, snapshot: Snapshot, mode: Mode) -> TablePlan:
        self.report.source_read_only = snapshot.read_only
        self.report.source_role_read_only = snapshot.role_read_only
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

    def _bounds(self, snapshot: Snapshot, plan: TablePlan) -> tuple[Any, Any]:
        """Upper bound and the oldest-open-transaction cap (or None), read in the snapshot; the rows
        with a NULL watermark are counted into the report."""
        assert plan.watermark_column is not None and plan.watermark_type is not None
        found = snapshot.column_range(plan.source.ref, plan.watermark_column.source.name, self.options.where)
        self._report_null_watermarks(found.nulls)
        return found.newest, self._oldest_open_transaction(snapshot, plan)

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
            if snapshot.can_see_other_sessions():
                oldest = snapshot.oldest_open_transaction_start()
                if oldest is not None:
                    cap = cap_from_transaction_start(oldest, plan.watermark_type)
            else:
                message = (
                    "cannot read other sessions in pg_stat_activity (grant pg_read_all_stats); "
                    f"late commits are covered only by the lookback of {self.options.lookback_seconds}s"
                )
                logger.warning(message, extra={"table": self.table})
                self.report.warnings.append(message)
        return cap

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
            key_columns=tuple(staged_name(plan, k) for k in (position or plan.keys)),
        )

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
        ranges = self._block_ranges(snapshot, plan, extract, observer)
        if len(ranges) > 1:
            try:
                return self._stage_slices(snapshot, plan, extract, observer, first_index, ranges)
            except ValueConversionError as exc:
                raise self._name_offending_row(exc, snapshot, extract) from exc
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
        # Rows already counted (a resumed full refresh) plus those the extract's predicates select.
        estimated = snapshot.estimate_rows(plan.source.ref, extract.predicates)
        self.progress.estimate(None if estimated is None else observer.rows + estimated)
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
                    self.progress.rows(observer.rows, stager.bytes_written)
                    if len(stager.parts) != staged_parts_before:
                        staged_parts_before = len(stager.parts)
                        self._keep_lease()
                    if self.budget.low() and extract.order_by:
                        stager.finish_part()
                        finished = False
                        break
            self.report.transform = plan.pipeline.hook_counts()
            with self._phase("upload"):
                parts = stager.close()
            self.progress.rows(observer.rows, sum(p.bytes for p in parts))
        except ValueConversionError as exc:
            stager.abort()
            raise self._name_offending_row(exc, snapshot, extract) from exc
        except BaseException:
            stager.abort()
            raise
        return parts, finished

    def _name_offending_row(
        self, exc: ValueConversionError, snapshot: Snapshot, extract: ExtractPlan
    ) -> ValueConversionError:
        column_name = exc.fields.get("column")
        column = next((c for c in extract.columns if c.source.name == column_name), None)
        # Only a numeric column can hold a value its decimal cannot take; the key names the row.
        if column is None or column.source.type_name != "numeric" or not extract.table.primary_key:
            return exc
        # The COPY ran on its own connection: the snapshot that fed it is intact, so the row
        # found is one the extract read.
        decimal = column.ctype.arrow_type
        row = snapshot.offending_numeric_row(
            extract.table, column.source, precision=decimal.precision, scale=decimal.scale
        )
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
