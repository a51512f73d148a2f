"""The PostgreSQL catalog: a table's columns, types, primary key and comments (psycopg2 cursor)."""

from __future__ import annotations

from typing import Any

from aurora_batch.errors import SourceTableNotFoundError
from aurora_batch.model import SourceColumn, SourceTable, TableRef

_TABLE_OID_SQL = """
SELECT c.oid, obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

_COLUMNS_SQL = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END,
       CASE WHEN t.typtype = 'd' THEN bt.typcategory ELSE t.typcategory END,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       NOT (a.attnotnull OR coalesce(t.typnotnull, false)),
       a.attnum,
       col_description(a.attrelid, a.attnum)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_PRIMARY_KEY_SQL = """
SELECT a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s AND i.indisprimary
ORDER BY k.ord
"""


def _precision_scale(type_name: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """Decode atttypmod: (numeric precision, numeric scale, character length)."""
    if typmod < 0:
        return None, None, None
    if type_name == "numeric":
        packed = typmod - 4
        # the scale is an 11-bit signed field: PostgreSQL 15 allows -1000..1000
        return (packed >> 16) & 0xFFFF, ((packed & 0x7FF) ^ 0x400) - 0x400, None
    if type_name in ("varchar", "bpchar"):
        return None, None, typmod - 4
    return None, None, None


def describe_table(cursor: Any, ref: TableRef) -> SourceTable:
    """Read a table's columns, primary key and comments from the catalog."""
    cursor.execute(_TABLE_OID_SQL, (ref.schema, ref.table))
    found = cursor.fetchone()
    if found is None:
        raise SourceTableNotFoundError(
            f"source table {ref.qualified} does not exist or is not visible to the role", table=ref.qualified
        )
    oid, table_comment = found
    cursor.execute(_COLUMNS_SQL, (oid,))
    columns = []
    for name, pg_type, type_name, category, typmod, nullable, ordinal, comment in cursor.fetchall():
        precision, scale, length = _precision_scale(type_name, typmod)
        columns.append(
            SourceColumn(
                name=name,
                pg_type=pg_type,
                type_name=type_name,
                type_category=category,
                nullable=nullable,
                ordinal=ordinal,
                numeric_precision=precision,
                numeric_scale=scale,
                char_length=length,
                comment=comment,
            )
        )
    cursor.execute(_PRIMARY_KEY_SQL, (oid,))
    primary_key = tuple(row[0] for row in cursor.fetchall())
    return SourceTable(ref=ref, columns=tuple(columns), primary_key=primary_key, comment=table_comment)
