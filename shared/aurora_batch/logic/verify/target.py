"""Snowflake side of verify: bucket digests and leaf rows of the target, read from the hidden
columns the extract staged (no value is hashed in Snowflake), and the deletes of a repair."""

from __future__ import annotations

from collections.abc import Sequence

from aurora_batch.digest import DELETED_AT_COLUMN, KEY_HASH_COLUMN, ROW_HASH_COLUMN, bucket_sql
from aurora_batch.model import TargetTable, quote_sf
from aurora_batch.ports import BucketDigest, DigestRow, TargetSession

IN_LIST_CHUNK = 5000
_KEY_HASH = quote_sf(KEY_HASH_COLUMN)
_ROW_HASH = quote_sf(ROW_HASH_COLUMN)
_DELETED_AT = quote_sf(DELETED_AT_COLUMN)


def _in_list(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def live_rows_predicate(soft_deletes: bool) -> str:
    """Target rows that take part in the comparison: digested, and not marked deleted."""
    live = f"{_KEY_HASH} IS NOT NULL"
    return f"{live} AND {_DELETED_AT} IS NULL" if soft_deletes else live


def bucket_digests_sql(
    target: TargetTable, modulus: int, within: tuple[int, Sequence[int]] | None, *, soft_deletes: bool
) -> str:
    where = live_rows_predicate(soft_deletes)
    if within is not None:
        where += f" AND {bucket_sql(_KEY_HASH, within[0])} IN ({_in_list(within[1])})"
    return (
        # SQL from quote_sf identifiers, escaped literals (bandit B608)
        f"SELECT {bucket_sql(_KEY_HASH, modulus)} AS BUCKET, COUNT(*), "  # noqa: S608  # nosec B608
        f"SUM({_KEY_HASH}), SUM({_ROW_HASH}) "
        f"FROM {target.sql} WHERE {where} GROUP BY 1"
    )


def leaf_rows_sql(target: TargetTable, modulus: int, buckets: Sequence[int], *, soft_deletes: bool) -> str:
    keys = ", ".join(quote_sf(k) for k in target.primary_key)
    return (
        # SQL from quote_sf identifiers, escaped literals (bandit B608)
        f"SELECT {_KEY_HASH}, {_ROW_HASH}, {keys} FROM {target.sql} "  # noqa: S608  # nosec B608
        f"WHERE {live_rows_predicate(soft_deletes)} AND {bucket_sql(_KEY_HASH, modulus)} IN ({_in_list(buckets)})"
    )


def soft_delete_sql(target: TargetTable, key_hashes: Sequence[int]) -> str:
    # The session's TIMEZONE is UTC: the mark is the UTC wall clock.
    return (
        # SQL from quote_sf identifiers, escaped literals (bandit B608)
        f"UPDATE {target.sql} SET {_DELETED_AT} = CURRENT_TIMESTAMP()::TIMESTAMP_NTZ "  # noqa: S608  # nosec B608
        f"WHERE {_KEY_HASH} IN ({_in_list(key_hashes)}) AND {_DELETED_AT} IS NULL"
    )


def hard_delete_sql(target: TargetTable, key_hashes: Sequence[int]) -> str:
    # SQL from quote_sf identifiers, escaped literals (bandit B608)
    return f"DELETE FROM {target.sql} WHERE {_KEY_HASH} IN ({_in_list(key_hashes)})"  # noqa: S608  # nosec B608


class TargetDigests:
    """The target's digests through one Snowflake session."""

    def __init__(self, session: TargetSession, target: TargetTable, *, soft_deletes: bool) -> None:
        self._session = session
        self._target = target
        self._soft = soft_deletes

    def bucket_digests(self, modulus: int, within: tuple[int, Sequence[int]] | None) -> dict[int, BucketDigest]:
        found: dict[int, BucketDigest] = {}
        parents = list(within[1]) if within is not None else [0]
        for start in range(0, len(parents), IN_LIST_CHUNK):
            chunk = (within[0], parents[start : start + IN_LIST_CHUNK]) if within is not None else None
            for bucket, count, key_sum, row_sum in self._session.execute(
                bucket_digests_sql(self._target, modulus, chunk, soft_deletes=self._soft)
            ):
                found[int(bucket)] = BucketDigest(int(count), int(key_sum or 0), int(row_sum or 0))
        return found

    def leaf_rows(self, modulus: int, buckets: Sequence[int]) -> list[DigestRow]:
        rows: list[DigestRow] = []
        for start in range(0, len(buckets), IN_LIST_CHUNK):
            sql = leaf_rows_sql(self._target, modulus, buckets[start : start + IN_LIST_CHUNK], soft_deletes=self._soft)
            for row in self._session.execute(sql):
                rows.append(DigestRow(int(row[0]), None if row[1] is None else int(row[1]), tuple(row[2:])))
        return rows
