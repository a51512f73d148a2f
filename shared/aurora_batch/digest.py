"""The per-row digest verify compares: its hidden target columns and the PostgreSQL expressions
that compute it (see docs/ARCHITECTURE.md, "Verify: hierarchical digests").

Only PostgreSQL ever hashes a value. The extract stages, for each row, a hash of its key and a
hash of the row; verify recomputes both in PostgreSQL and reads the staged ones back from
Snowflake. Both are the low 59 bits of the stable 64-bit hashes PostgreSQL uses for hash
partitioning: the key's is
`hashtextextended` of the key's text output; the row's is `hash_record_extended` of the replicated
columns, each hashed by its own type's hash function (types without one as their text output, under
the fixed session settings every source session sets: UTC, ISO dates, shortest exact floats, hex
bytea). Buckets are integer arithmetic on the key hash, exact in both engines.
"""

from __future__ import annotations

from collections.abc import Sequence

from aurora_batch.model import quote_pg

KEY_HASH_COLUMN = "_AB_KEY_HASH"
ROW_HASH_COLUMN = "_AB_ROW_HASH"
DELETED_AT_COLUMN = "_AB_DELETED_AT"
HIDDEN_COLUMNS = (KEY_HASH_COLUMN, ROW_HASH_COLUMN, DELETED_AT_COLUMN)
# Both hashes keep the low 59 bits of PostgreSQL's 64-bit hash: a non-negative integer below
# 10^18, so the hidden columns are NUMBER(18,0) (a 64-bit integer in any engine; a 19-digit NUMBER
# can need 128 bits) and a bucket is one MOD with no sign to correct.
HASH_BITS = 59
HASH_MASK = (1 << HASH_BITS) - 1
HASH_SNOWFLAKE_TYPE = "NUMBER(18,0)"
# Bucket digests are the exact sums of the hashes: numeric in PostgreSQL, NUMBER(38,0) in Snowflake
# (2^32 rows of 2^59 stay far below 10^38), so no modulo is needed on either side, and one changed
# row leaves a bucket's sum unchanged only if its hash difference is 0 (a 59-bit collision).
# The leaves compare the full hashes.


def _masked(hash_expression: str) -> str:
    return f"({hash_expression} & {HASH_MASK})"


def key_hash_sql(keys: Sequence[str]) -> str:
    """The 59-bit hash of a row's key (composite keys as one record)."""
    return _masked(f"hashtextextended(ROW({', '.join(quote_pg(k) for k in keys)})::text, 0)")


# Base types whose own extended hash function (hash_record_extended calls it per field) is exact on
# the value: equal values, equal hashes; no text rendering. Any other type (json, geometric types,
# arrays, enums, extension types) joins the record as its text output, which every type has.
HASHABLE_TYPES = frozenset(
    {
        "bool", "bpchar", "bytea", "char", "cidr", "date", "float4", "float8", "inet", "int2", "int4", "int8",
        "interval", "jsonb", "macaddr", "macaddr8", "name", "numeric", "oid", "pg_lsn", "text", "time",
        "timestamp", "timestamptz", "uuid", "varchar",
    }
)  # fmt: skip


def row_hash_sql(columns: Sequence[tuple[str, str]]) -> str:
    """The 59-bit hash of the row's replicated source columns (name, base type name), before any
    masking or transform: `hash_record_extended` (PostgreSQL 14+) of the row, which hashes each field
    with its type's own hash; a few times cheaper than hashing the row's text output."""
    fields = [quote_pg(name) if base in HASHABLE_TYPES else f"{quote_pg(name)}::text" for name, base in columns]
    return _masked(f"hash_record_extended(ROW({', '.join(fields)}), 0)")


def bucket_sql(hash_expression: str, modulus: int) -> str:
    """The bucket of a (non-negative) hash: its remainder by `modulus`, the same in both engines."""
    return f"MOD({hash_expression}, {int(modulus)})"
