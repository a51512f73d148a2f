"""The benchmark table: 10 mixed columns, filled server-side with ``generate_series``.

Values are derived from the row number, so every run stages the same data. Some values are NULL,
and some text holds quotes and commas, so the CSV paths pay for quoting as real data makes them.
"""

from __future__ import annotations

import psycopg2.extensions
from aurora_batch.model import TableRef, quote_pg

COLUMNS_SQL = """
    id          bigint PRIMARY KEY,
    customer    text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz,
    is_active   boolean NOT NULL,
    attributes  jsonb,
    external_id uuid NOT NULL,
    score       double precision,
    note        text
"""

# {table} is a quoted identifier; the bounds are integers formatted in (no parameters: % is modulo).
INSERT_ROWS_SQL = """
INSERT INTO {table}
SELECT g,
       'customer ' || (g % 100000),
       ((g * 7919) % 100000000) / 100.0,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds',
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE timestamptz '2024-01-01 00:00:00+00' + g * interval '3 seconds'
                 + (g % 1000) * interval '1 microsecond'
       END,
       g % 3 <> 0,
       CASE WHEN g % 7 = 0 THEN NULL
            ELSE jsonb_build_object(
                'tier', g % 5, 'tags', jsonb_build_array('a', g % 11), 'city', 'City ' || g % 500)
       END,
       md5(g::text)::uuid,
       CASE WHEN g % 13 = 0 THEN NULL ELSE (g % 1000003) * 1.000001::float8 / 7 END,
       CASE g % 4 WHEN 0 THEN NULL
                  WHEN 1 THEN md5(g::text)
                  ELSE 'said "hi", then left: ' || md5((g + 1)::text)
       END
FROM generate_series({first_id}::bigint, {last_id}::bigint) AS g
"""


def create_table(connection: psycopg2.extensions.connection, ref: TableRef) -> None:
    """Create the schema (if missing) and the empty table."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_pg(ref.schema)}")
        cursor.execute(f"CREATE TABLE {ref.pg_sql} ({COLUMNS_SQL})")
    connection.commit()


def add_rows(connection: psycopg2.extensions.connection, ref: TableRef, first_id: int, count: int) -> None:
    """Insert rows with ids first_id .. first_id + count - 1."""
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_ROWS_SQL.format(table=ref.pg_sql, first_id=int(first_id), last_id=int(first_id + count - 1))
        )
    connection.commit()


def vacuum_analyze(connection: psycopg2.extensions.connection, ref: TableRef) -> None:
    """Set hint bits and statistics, so no measured read pays for them."""
    previous = connection.autocommit
    connection.autocommit = True  # VACUUM cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {ref.pg_sql}")
    finally:
        connection.autocommit = previous


def table_facts(connection: psycopg2.extensions.connection, ref: TableRef) -> tuple[int, int]:
    """(rows, bytes on disk including indexes and TOAST)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), pg_total_relation_size(%s::regclass) FROM {ref.pg_sql}", (ref.pg_sql,))
        row = cursor.fetchone()
    connection.commit()
    assert row is not None
    return int(row[0]), int(row[1])


def server_version(connection: psycopg2.extensions.connection) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    connection.commit()
    return str(row[0]) if row else "unknown"
