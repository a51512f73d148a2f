"""Block ranges of a table, for parallel COPY streams in one snapshot.

A row's `ctid` is (block, offset). `ctid >= '(b,0)' AND ctid < '(e,0)'` selects the rows stored in
blocks b .. e-1 and runs as a TID range scan (PostgreSQL 14 and later): each stream reads only its
blocks. Adjacent ranges share a bound, so within one snapshot every visible row is in exactly one.
"""

from __future__ import annotations

from typing import Any

from aurora_batch.model import TableRef


def table_blocks(cursor: Any, ref: TableRef) -> tuple[int, int]:
    """(blocks, bytes) of the table's main fork, as it is now (not pg_class.relpages, which lags
    until VACUUM or ANALYZE)."""
    cursor.execute(
        "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint, pg_relation_size(c.oid) "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        (ref.pg_sql,),
    )
    row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def block_range_predicate(first: int | None, end: int | None) -> str:
    bounds = []
    if first is not None:
        bounds.append(f"ctid >= '({int(first)},0)'::tid")
    if end is not None:
        bounds.append(f"ctid < '({int(end)},0)'::tid")
    return " AND ".join(bounds) or "true"
