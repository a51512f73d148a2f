"""Customization applied to the Arrow batches before anything is staged: masking rules and a
streaming transformation hook. Masked values never leave the Lambda.

Only a hook TRANSFORM_HOOKS registers runs. Its rows are counted on the way in (the rows the
source gave) and on the way out: it may never yield more rows than it was given (so a hook that
repeats its input, such as itertools.cycle, fails at once instead of holding the lease), and one
not registered with `filters_rows` must yield exactly as many."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, assert_never

import pyarrow as pa
import pyarrow.compute as pc

from aurora_batch.config import ColumnMask, TableOptions
from aurora_batch.errors import ConfigError, TransformHookError
from aurora_batch.logic.extract import ExtractColumn, plan_columns
from aurora_batch.model import SourceTable
from aurora_batch.typemap import ColumnType

BatchTransform = Callable[[pa.Array], pa.Array]
StreamHook = Callable[[Iterator[pa.RecordBatch]], Iterable[pa.RecordBatch]]


def _hash(key: bytes) -> BatchTransform:
    def apply(values: pa.Array) -> pa.Array:
        texts = values.cast(pa.large_string()) if not pa.types.is_large_string(values.type) else values
        return pa.array(
            [None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in texts.to_pylist()],
            pa.large_string(),
        )

    return apply


def _null(values: pa.Array) -> pa.Array:
    return pa.nulls(len(values), values.type)


def _keep_last(count: int) -> BatchTransform:
    def apply(values: pa.Array) -> pa.Array:
        texts = values.cast(pa.large_string())
        length = pc.utf8_length(texts)
        hidden = pc.max_element_wise(pc.subtract(length, count), 0)
        stars = pc.binary_repeat(pa.scalar("*", pa.large_string()), hidden)
        tail = pc.utf8_slice_codeunits(texts, start=-count) if count else pc.utf8_slice_codeunits(texts, 0, 0)
        # The separator must have the inputs' type: large_string.
        return pc.binary_join_element_wise(stars, tail, pa.scalar("", pa.large_string()))

    return apply


def _truncate(unit: str) -> BatchTransform:
    def apply(values: pa.Array) -> pa.Array:
        return pc.floor_temporal(values, unit=unit).cast(values.type)

    return apply


class _JsonNumber(str):
    """A JSON number kept as its source text, so redaction never rounds a value it keeps."""


def _json_text(node: Any) -> str:
    if isinstance(node, _JsonNumber):
        return str.__str__(node)
    if isinstance(node, dict):
        members = (f"{json.dumps(k, ensure_ascii=False)}: {_json_text(v)}" for k, v in node.items())
        return "{" + ", ".join(members) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_json_text(v) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)


def _redact(keys: tuple[str, ...]) -> BatchTransform:
    banned = set(keys)

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: scrub(v) for k, v in node.items() if k not in banned}
        if isinstance(node, list):
            return [scrub(v) for v in node]
        return node

    def redact(text: str) -> str:
        parsed = json.loads(text, parse_float=_JsonNumber, parse_int=_JsonNumber)
        return _json_text(scrub(parsed))

    def apply(values: pa.Array) -> pa.Array:
        return pa.array([None if v is None else redact(v) for v in values.to_pylist()], values.type)

    return apply


# Rules whose output is text, whatever the column's type, and the Snowflake type it lands as.
_TEXT_OUTPUT: dict[str, str] = {"hash": "VARCHAR(64)", "mask": "VARCHAR"}


def _masked_type(column: ExtractColumn, mask: ColumnMask) -> ColumnType:
    """The target type follows the masking: hashes and masked text are VARCHAR."""
    ctype = column.ctype
    text_type = _TEXT_OUTPUT.get(mask.rule)
    if text_type is not None:
        return replace(
            ctype,
            arrow_type=pa.large_string(),
            snowflake_type=text_type,
            staged_type=text_type,
            load_expression="{col}",
            clamped_sentinels=(),
        )
    if mask.rule == "truncate_date" and ctype.clamped_sentinels:
        # Clamped values are counted after masking, so count their truncated form.
        sentinels = pa.array(list(ctype.clamped_sentinels), ctype.arrow_type)
        truncated = _truncate(mask.truncate_to or "month")(sentinels).to_pylist()
        return replace(ctype, clamped_sentinels=tuple(truncated))
    return ctype


def _transform_for(
    column: ExtractColumn, mask: ColumnMask, masking_key: Callable[[], bytes] | None, table: str
) -> BatchTransform:
    rule = mask.rule
    arrow_type = column.ctype.arrow_type

    def unfit(message: str) -> ConfigError:
        return ConfigError(message, field="masking", table=table, column=column.source.name)

    if rule == "hash":
        if masking_key is None:
            raise unfit("the hash masking rule needs the masking key from Vault")
        return _hash(masking_key())
    if rule == "null":
        return _null
    if rule == "mask":
        return _keep_last(mask.keep_last or 0)
    if rule == "truncate_date":
        if not (pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type)):
            raise unfit("truncate_date applies only to date and timestamp columns")
        return _truncate(mask.truncate_to or "month")
    if rule == "redact_json_keys":
        if column.ctype.family != "json":
            raise unfit("redact_json_keys applies only to json and jsonb columns")
        return _redact(mask.keys or ())
    assert_never(rule)  # mypy fails here when a rule of MaskRule has no branch above


def load_hook(dotted: str, registered: Mapping[str, bool], table: str = "") -> StreamHook:
    """The hook at `dotted`, which TRANSFORM_HOOKS must register (ConfigError naming it otherwise)."""
    if dotted not in registered:
        raise ConfigError(
            f"transform hook {dotted!r} is not registered in TRANSFORM_HOOKS",
            field="transform",
            hook=dotted,
            table=table or None,
        )
    module_name, _, attribute = dotted.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
        hook = getattr(module, attribute)
    except Exception as exc:  # any failure while importing the hook's module is a configuration error
        raise ConfigError(
            f"transform hook {dotted!r} cannot be imported: {type(exc).__name__}: {exc}",
            field="transform",
            hook=dotted,
        ) from exc
    if not callable(hook):
        raise ConfigError(f"transform hook {dotted!r} is not callable", field="transform", hook=dotted)
    return hook  # type: ignore[no-any-return]


@dataclass
class BatchPipeline:
    source_columns: tuple[ExtractColumn, ...]  # as extracted
    columns: tuple[ExtractColumn, ...]  # as staged and loaded
    output_schema: pa.Schema
    transforms: dict[str, BatchTransform] = field(default_factory=dict)
    hook: StreamHook | None = None
    hook_name: str | None = None
    table: str = ""
    hook_filters_rows: bool = False
    rows_in: int = 0  # rows given to the hook: the source's count
    rows_out: int = 0  # rows the hook yielded

    def _mask(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if self.transforms:
                arrays = [
                    self.transforms[name](batch.column(name)) if name in self.transforms else batch.column(name)
                    for name in batch.schema.names
                ]
                batch = pa.RecordBatch.from_arrays(arrays, schema=self.output_schema)
            yield batch

    def apply(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        masked = self._mask(batches)
        if self.hook is None:
            yield from masked
            return
        upstream_failures: list[Exception] = []

        def feed() -> Iterator[pa.RecordBatch]:
            try:
                for batch in masked:
                    self.rows_in += batch.num_rows
                    yield batch
            except Exception as exc:
                upstream_failures.append(exc)
                raise

        try:
            for batch in self.hook(feed()):
                if not isinstance(batch, pa.RecordBatch) or not batch.schema.equals(self.output_schema):
                    raise TransformHookError(
                        f"transform hook {self.hook_name} must yield record batches of the input schema "
                        f"({type(batch).__name__} received)",
                        hook=self.hook_name,
                        table=self.table,
                    )
                self.rows_out += batch.num_rows
                if self.rows_out > self.rows_in:
                    raise self._row_count_error("yielded more rows than it was given")
                yield batch
            if self.rows_out != self.rows_in and not self.hook_filters_rows:
                raise self._row_count_error(
                    "changed the row count; a hook that drops rows must be registered with filters_rows"
                )
        except TransformHookError:
            raise
        except Exception as exc:
            if upstream_failures:
                # The extract failed while the hook was reading it: that error, not the hook, is the cause.
                raise upstream_failures[0] from None
            raise TransformHookError(
                f"transform hook {self.hook_name} failed: {type(exc).__name__}: {exc}",
                hook=self.hook_name,
                table=self.table,
            ) from exc

    def _row_count_error(self, reason: str) -> TransformHookError:
        return TransformHookError(
            f"transform hook {self.hook_name} {reason} ({self.rows_in} rows in, {self.rows_out} out)",
            hook=self.hook_name,
            table=self.table,
            check="row_count",
            rows_in=self.rows_in,
            rows_out=self.rows_out,
        )

    def hook_counts(self) -> dict[str, Any] | None:
        """What the report says about the hook, or None without one."""
        if self.hook is None:
            return None
        return {
            "hook": self.hook_name,
            "filters_rows": self.hook_filters_rows,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
        }


def build_pipeline(
    source: SourceTable,
    staged_names: dict[str, str],
    options: TableOptions,
    masking_key: Callable[[], bytes] | None,
    transform_hooks: Mapping[str, bool] | None = None,
) -> BatchPipeline:
    table = source.ref.qualified
    source_columns = plan_columns(source, staged_names)
    masking = options.masking or {}
    known = {c.name for c in source.columns}
    for name in masking:
        if name not in known:
            raise ConfigError(
                f"masking names column {name!r}, which {table} does not have",
                field="masking",
                table=table,
                column=name,
            )
        if name not in staged_names:
            raise ConfigError(
                f"masking names column {name!r}, which include_columns/exclude_columns leave out of {table}",
                field="masking",
                table=table,
                column=name,
            )
    keys = set(options.merge_keys or source.primary_key)
    columns = []
    transforms: dict[str, BatchTransform] = {}
    for column in source_columns:
        mask = masking.get(column.source.name)
        if mask is None:
            columns.append(column)
            continue
        if column.source.name in keys:
            raise ConfigError("key columns cannot be masked", field="masking", table=table, column=column.source.name)
        transforms[column.staged_name] = _transform_for(column, mask, masking_key, table)
        source_column = replace(column.source, nullable=True) if mask.rule == "null" else column.source
        columns.append(replace(column, source=source_column, ctype=_masked_type(column, mask)))
    schema = pa.schema([pa.field(c.staged_name, c.ctype.arrow_type) for c in columns])
    registered = transform_hooks or {}
    hook = load_hook(options.transform, registered, table) if options.transform else None
    return BatchPipeline(
        tuple(source_columns),
        tuple(columns),
        schema,
        transforms,
        hook,
        options.transform,
        table,
        hook_filters_rows=bool(options.transform and registered.get(options.transform)),
    )
