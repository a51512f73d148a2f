"""PostgreSQL side of verify: bucket digests and leaf rows, read in one snapshot (ports.SourceDigests).

Every hash is computed here by PostgreSQL, with the expressions the extract stages
(aurora_batch.digest). The sums are numeric: exact whatever the row count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aurora_batch.adapters.postgres import Snapshot
from aurora_batch.digest import bucket_sql, key_hash_sql, row_hash_sql
from aurora_batch.model import quote_pg
from aurora_batch.ports import BucketDigest, DigestRow, DigestScope

# IN lists longer than this are split (a planner's cost grows with the list, not the result).
_IN_LIST_CHUNK = 5000


def _in_list(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


class PostgresDigests:
    """ports.SourceDigests over one open snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def _where(self, scope: DigestScope, extra: Sequence[str]) -> str:
        predicates = [*([scope.where] if scope.where else []), *extra]
        if scope.block_range is not None:
            predicates.append(self._snapshot.block_range_predicate(*scope.block_range))
        return (" WHERE " + " AND ".join(f"({p})" for p in predicates)) if predicates else ""

    def _rows(self, scope: DigestScope, sql: str) -> list[tuple[Any, ...]]:
        """The rows of `sql`: on the snapshot's connection, or, for a block range, on a connection
        of its own in the same snapshot (ranges are read at once, each on its own backend)."""
        if scope.block_range is None:
            return self._snapshot.query(sql)
        return self._snapshot.query_alongside(sql)

    def _pending_sql(self, scope: DigestScope) -> str:
        if scope.pending_column is None:
            return "false"
        column = quote_pg(scope.pending_column)
        if scope.pending_from is None:
            return f"({column} IS NOT NULL)"
        return f"({column} IS NOT NULL AND {column} >= {self._snapshot.mogrify('%s', (scope.pending_from,))})"

    def bucket_digests(
        self, scope: DigestScope, modulus: int, within: tuple[int, Sequence[int]] | None
    ) -> dict[int, BucketDigest]:
        key_hash = key_hash_sql(scope.keys)
        found: dict[int, BucketDigest] = {}
        parents = list(within[1]) if within else [None]
        for start in range(0, len(parents), _IN_LIST_CHUNK):
            extra = []
            if within is not None:
                chunk = [int(p) for p in parents[start : start + _IN_LIST_CHUNK] if p is not None]
                extra.append(f"{bucket_sql('h.k', within[0])} IN ({_in_list(chunk)})")
            sums = "sum(h.k)::text, sum(h.r)::text"  # numeric: exact whatever the row count
            # OFFSET 0 keeps the hashes in the subquery: the planner cannot tell there are at most
            # `modulus` buckets (it assumes one per row), and would otherwise sort every row at its full
            # width, spilling the table to temp files, instead of hashing into the buckets in memory.
            rows = self._rows(
                scope,
                # SQL from quote_pg identifiers, integer literals (bandit B608)
                f"SELECT {bucket_sql('h.k', modulus)} AS bucket, count(*), {sums} FROM ("  # noqa: S608  # nosec B608
                f"SELECT {key_hash} AS k, {row_hash_sql(scope.row_columns)} AS r "
                f"FROM {scope.ref.pg_sql}{self._where(scope, ())} OFFSET 0) AS h"
                f"{' WHERE ' + extra[0] if extra else ''} GROUP BY 1",
            )
            for bucket, count, key_sum, row_sum in rows:
                found[int(bucket)] = BucketDigest(int(count), int(key_sum or 0), int(row_sum or 0))
        return found

    def leaf_rows(self, scope: DigestScope, modulus: int, buckets: Sequence[int]) -> list[DigestRow]:
        rows: list[DigestRow] = []
        for start in range(0, len(buckets), _IN_LIST_CHUNK):
            chunk = buckets[start : start + _IN_LIST_CHUNK]
            found = self._rows(
                scope,
                # SQL from quote_pg identifiers, integer literals (bandit B608)
                f"SELECT h.k, h.r, h.p, h.key_values FROM (SELECT {key_hash_sql(scope.keys)} AS k, "  # noqa: S608  # nosec B608
                f"{row_hash_sql(scope.row_columns)} AS r, {self._pending_sql(scope)} AS p, "
                f"ARRAY[{', '.join(f'{quote_pg(k)}::text' for k in scope.keys)}] AS key_values "
                f"FROM {scope.ref.pg_sql}{self._where(scope, ())}) AS h "
                f"WHERE {bucket_sql('h.k', modulus)} IN ({_in_list(chunk)})",
            )
            rows.extend(DigestRow(int(k), int(r), tuple(values), bool(p)) for k, r, p, values in found)
        return rows

    def key_count(self, scope: DigestScope, column: str, upper: Any) -> int:
        quoted = quote_pg(column)
        bounds = [f"{quoted} IS NOT NULL"]
        if upper is not None:
            bounds.append(f"{quoted} <= {self._snapshot.mogrify('%s', (upper,))}")
        # SQL from quote_pg identifiers, integer literals (bandit B608)
        row = self._snapshot.query(f"SELECT count(*) FROM {scope.ref.pg_sql}{self._where(scope, bounds)}")  # noqa: S608  # nosec B608
        return int(row[0][0])

    def key_hash_predicate(self, scope: DigestScope, key_hashes: Sequence[int]) -> str:
        return f"{key_hash_sql(scope.keys)} IN ({_in_list(sorted(set(key_hashes)))})"


def source_digests(snapshot: Any) -> PostgresDigests:
    """The SourceDigests of a snapshot this adapter opened."""
    return PostgresDigests(snapshot)
