"""Planning: check a table's options against its catalog and decide every column's journey."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurora_batch.config import TableOptions
from aurora_batch.errors import ConfigError, SourceSchemaError
from aurora_batch.logic.customize import BatchPipeline, build_pipeline
from aurora_batch.logic.extract import ExtractColumn
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.services import Services
from aurora_batch.logic.verify.columns import with_digest_columns
from aurora_batch.model import Mode, SourceTable, StagedPart, TargetColumn, TargetTable, snowflake_name
from aurora_batch.watermark import WatermarkType, watermark_type_for_pg


@dataclass(frozen=True)
class ExtractWindow:
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
    pipeline = build_pipeline(
        source, _staged_names(source, options, keys), options, services.masking_key, services.transform_hooks
    )
    pipeline = with_digest_columns(pipeline, options, keys)
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


def staged_name(plan: TablePlan, source_name: str) -> str:
    """The Snowflake name a source column is staged and loaded under."""
    return next(c.staged_name for c in plan.columns if c.source.name == source_name)
