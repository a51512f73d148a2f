"""Hierarchical comparison: bucket digests of both sides, a descent into the buckets that differ,
and the classification of every difference found in the leaves.

Level 1 splits the key hashes into BUCKETS buckets (key hash mod BUCKETS). While the buckets that
differ still hold more than LEAF_ROWS rows, the next level splits only those, FANOUT ways
(key hash mod BUCKETS * FANOUT^n: a sub-bucket's remainder determines its parent's). The leaves
are then read row by row (key hash, row hash, key) on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from aurora_batch.ports import BucketDigest, DigestRow

BUCKETS = 4096
FANOUT = 64
LEAF_ROWS = 20_000
MAX_MODULUS = 1 << 40  # the key hash is 64-bit: deeper levels would only split collisions

Kind = Literal["missing", "deleted", "changed", "pending"]
_Result = TypeVar("_Result")


class DigestSide(Protocol):
    def bucket_digests(self, modulus: int, within: tuple[int, Sequence[int]] | None) -> dict[int, BucketDigest]: ...

    def leaf_rows(self, modulus: int, buckets: Sequence[int]) -> list[DigestRow]: ...


@dataclass(frozen=True)
class Level:
    modulus: int
    buckets: int  # buckets compared at this level
    differing: int


@dataclass(frozen=True)
class Difference:
    kind: Kind
    key_hash: int
    key: tuple[Any, ...]


@dataclass
class Comparison:
    levels: list[Level] = field(default_factory=list)
    source_rows: int = 0
    target_rows: int = 0
    leaf_modulus: int = BUCKETS
    leaf_buckets: list[int] = field(default_factory=list)
    source_leaf: list[DigestRow] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    def keys_of(self, *kinds: Kind) -> list[int]:
        return [d.key_hash for d in self.differences if d.kind in kinds]

    def count(self, kind: Kind) -> int:
        return sum(1 for d in self.differences if d.kind == kind)


def _differing(source: dict[int, BucketDigest], target: dict[int, BucketDigest]) -> list[int]:
    return sorted(b for b in source.keys() | target.keys() if source.get(b) != target.get(b))


def _rows_in(buckets: Sequence[int], *sides: dict[int, BucketDigest]) -> int:
    empty = BucketDigest(0, 0, 0)
    return sum(max(side.get(b, empty).rows for side in sides) for b in buckets)


def compare(
    source: DigestSide,
    target: DigestSide,
    *,
    on_level: Callable[[Level], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Comparison:
    """Descend from the level-1 buckets to the leaves and classify what differs there. `on_start`
    hears each level's modulus before it is read, `on_level` the level once compared."""
    result = Comparison()
    modulus = BUCKETS
    if on_start is not None:
        on_start(modulus)
    source_buckets, target_buckets = _both(lambda side: side.bucket_digests(modulus, None), source, target)
    result.source_rows = sum(d.rows for d in source_buckets.values())
    result.target_rows = sum(d.rows for d in target_buckets.values())
    differing = _differing(source_buckets, target_buckets)
    _level(result, Level(modulus, len(source_buckets.keys() | target_buckets.keys()), len(differing)), on_level)
    while differing and _rows_in(differing, source_buckets, target_buckets) > LEAF_ROWS:
        child = modulus * FANOUT
        if child > MAX_MODULUS:
            break
        if on_start is not None:
            on_start(child)
        within = (modulus, differing)
        source_buckets, target_buckets = _both(partial(_buckets_of, modulus=child, within=within), source, target)
        modulus, differing = child, _differing(source_buckets, target_buckets)
        _level(result, Level(modulus, len(source_buckets.keys() | target_buckets.keys()), len(differing)), on_level)
    result.leaf_modulus, result.leaf_buckets = modulus, differing
    if differing:
        leaf_modulus, buckets = modulus, differing
        result.source_leaf, target_leaf = _both(lambda side: side.leaf_rows(leaf_modulus, buckets), source, target)
        result.differences = classify(result.source_leaf, target_leaf)
    return result


def _buckets_of(side: DigestSide, modulus: int, within: tuple[int, Sequence[int]]) -> dict[int, BucketDigest]:
    return side.bucket_digests(modulus, within)


def _both(read: Callable[[DigestSide], _Result], source: DigestSide, target: DigestSide) -> tuple[_Result, _Result]:
    """Read both sides at once: PostgreSQL and Snowflake each scan on their own connection, so a
    level takes the slower side's time, not the sum."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-target") as pool:
        target_result = pool.submit(read, target)
        source_result = read(source)
        return source_result, target_result.result()


def _level(result: Comparison, level: Level, on_level: Callable[[Level], None] | None) -> None:
    result.levels.append(level)
    if on_level is not None:
        on_level(level)


def classify(source_rows: Sequence[DigestRow], target_rows: Sequence[DigestRow]) -> list[Difference]:
    """Each key whose rows differ: missing in the target, deleted in the source, changed, or pending
    (newer in the source than the watermark: the next incremental run reads it anyway)."""
    source = {r.key_hash: r for r in source_rows}
    target: dict[int, list[DigestRow]] = {}
    for row in target_rows:
        target.setdefault(row.key_hash, []).append(row)
    found: list[Difference] = []
    for key_hash, row in source.items():
        copies = target.get(key_hash, [])
        if len(copies) == 1 and copies[0].row_hash == row.row_hash:
            continue
        if row.pending:
            found.append(Difference("pending", key_hash, row.key))
        else:
            found.append(Difference("missing" if not copies else "changed", key_hash, row.key))
    for key_hash, copies in target.items():
        if key_hash not in source:
            found.append(Difference("deleted", key_hash, copies[0].key))
    return sorted(found, key=lambda d: (d.kind, d.key_hash))
