"""The hidden digest columns a table with `row_digest` stages with every row.

They join the extract after masking is decided: the digest is computed in PostgreSQL on the
source values, so a masked or transformed column is hashed as it is in the source, and verify,
which recomputes the digest in PostgreSQL, is unaffected by what the target holds.
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from aurora_batch.config import TableOptions
from aurora_batch.digest import (
    DELETED_AT_COLUMN,
    HASH_SNOWFLAKE_TYPE,
    KEY_HASH_COLUMN,
    ROW_HASH_COLUMN,
    key_hash_sql,
    row_hash_sql,
)
from aurora_batch.logic.customize import BatchPipeline
from aurora_batch.logic.extract import ExtractColumn
from aurora_batch.model import SourceColumn
from aurora_batch.typemap import ColumnType, column_type


def _hidden(name: str, type_name: str, select_sql: str, *, nullable: bool) -> ExtractColumn:
    source = SourceColumn(
        name=name.lower(), pg_type=type_name, type_name=type_name, type_category="N", nullable=nullable, ordinal=0
    )
    ctype: ColumnType = replace(column_type(source), select_sql=select_sql, clamped_sentinels=())
    return ExtractColumn(source=source, ctype=ctype, staged_name=name)


def _hash(name: str, select_sql: str) -> ExtractColumn:
    column = _hidden(name, "int8", select_sql, nullable=True)
    ctype = replace(column.ctype, snowflake_type=HASH_SNOWFLAKE_TYPE, staged_type=HASH_SNOWFLAKE_TYPE)
    return replace(column, ctype=ctype)


def digest_columns(pipeline: BatchPipeline, options: TableOptions, keys: tuple[str, ...]) -> tuple[ExtractColumn, ...]:
    """The hidden columns of a table (none without `row_digest` or without a key)."""
    if not options.row_digest or not keys:
        return ()
    row_columns = [(c.source.name, c.source.type_name) for c in pipeline.source_columns]
    hidden = [
        _hash(KEY_HASH_COLUMN, key_hash_sql(keys)),
        _hash(ROW_HASH_COLUMN, row_hash_sql(row_columns)),
    ]
    if options.delete_mode == "soft":
        # Always NULL in the extract: a key loaded again (it came back) clears its deletion mark.
        hidden.append(_hidden(DELETED_AT_COLUMN, "timestamp", "NULL::timestamp", nullable=True))
    return tuple(hidden)


def with_digest_columns(pipeline: BatchPipeline, options: TableOptions, keys: tuple[str, ...]) -> BatchPipeline:
    """The pipeline with the hidden digest columns appended to what is extracted and staged."""
    hidden = digest_columns(pipeline, options, keys)
    if not hidden:
        return pipeline
    fields = [pa.field(c.staged_name, c.ctype.arrow_type) for c in hidden]
    schema = pipeline.output_schema
    for arrow_field in fields:
        schema = schema.append(arrow_field)
    return replace(
        pipeline,
        source_columns=(*pipeline.source_columns, *hidden),
        columns=(*pipeline.columns, *hidden),
        output_schema=schema,
    )
