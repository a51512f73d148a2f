"""The target's DDL comes from the PostgreSQL catalog: table and column comments, NOT NULL and the
primary key reach Snowflake's INFORMATION_SCHEMA and SHOW PRIMARY KEYS, on creation, after a
column is added, and after a full refresh has swapped in a new table."""

from __future__ import annotations

from typing import Any

import pytest
import snowflake.connector
from aurora_batch.config import TableOptions

from tests.support.runs import replicate

TABLE_COMMENT = "Orders by region; O'Reilly's \\ back"


class Target:
    """Reads the Snowflake catalog of the test's target table."""

    def __init__(self, stack: Any, schema: str, table: str) -> None:
        self.stack, self.schema, self.table = stack, schema, table

    def _query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        connection = self.stack.snowflake_connect()
        try:
            cursor = connection.cursor(snowflake.connector.DictCursor)
            cursor.execute(sql, params or None)
            return [{k.lower(): v for k, v in row.items()} for row in cursor.fetchall()]
        finally:
            connection.close()

    def table_comment(self) -> str | None:
        (row,) = self._query(
            f"SELECT COMMENT FROM {self.stack.snowflake_database}.INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            self.schema,
            self.table,
        )
        comment = row["comment"]
        return None if comment is None else str(comment)

    def columns(self) -> dict[str, tuple[str, str | None]]:
        """Column name -> (IS_NULLABLE, COMMENT), in ordinal order."""
        rows = self._query(
            "SELECT COLUMN_NAME, IS_NULLABLE, COMMENT "
            f"FROM {self.stack.snowflake_database}.INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            self.schema,
            self.table,
        )
        return {row["column_name"]: (row["is_nullable"], row["comment"]) for row in rows}

    def primary_key(self) -> list[str]:
        rows = self._query(
            f'SHOW PRIMARY KEYS IN TABLE "{self.stack.snowflake_database}"."{self.schema}"."{self.table}"'
        )
        return [row["column_name"] for row in sorted(rows, key=lambda row: int(row["key_sequence"]))]


@pytest.fixture
def source(stack: Any, stack_env: dict[str, str], pg_schema: str) -> str:
    table = f'"{pg_schema}".orders'
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} (region text NOT NULL, id bigint NOT NULL, amount numeric(12,2) NOT NULL, "
            "note varchar(40), PRIMARY KEY (region, id))"
        )
        cursor.execute(f"COMMENT ON TABLE {table} IS %s", (TABLE_COMMENT,))
        cursor.execute(f"COMMENT ON COLUMN {table}.id IS 'per-region order number'")
        cursor.execute(f"COMMENT ON COLUMN {table}.note IS 'free text, it''s optional'")
        cursor.execute(f"INSERT INTO {table} SELECT 'eu', g, g * 1.25, NULL FROM generate_series(1, 20) g")
        connection.commit()
    return table


def test_comments_not_null_and_primary_key_reach_snowflake_and_survive_evolution_and_swap(
    stack: Any, pg_schema: str, sf_schema: str, source: str
) -> None:
    options = TableOptions(
        schema_name=pg_schema, table_name="orders", target_schema=sf_schema, full_refresh_strategy="swap"
    )
    target = Target(stack, sf_schema, "ORDERS")
    expected_columns = {
        "REGION": ("NO", None),
        "ID": ("NO", "per-region order number"),
        "AMOUNT": ("NO", None),
        "NOTE": ("YES", "free text, it's optional"),
    }

    report = replicate(options)

    assert report["status"] == "succeeded", report["error"]
    assert report["schema_changes"] == ["created"]
    assert target.table_comment() == TABLE_COMMENT
    assert target.columns() == expected_columns
    assert target.primary_key() == ["REGION", "ID"]

    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {source} ADD COLUMN shipped_at timestamptz")
        cursor.execute(f"COMMENT ON COLUMN {source}.shipped_at IS 'when it left the warehouse'")
        connection.commit()

    report = replicate(options)  # a full refresh: evolve, then LIKE .. COPY GRANTS and SWAP WITH

    assert report["status"] == "succeeded", report["error"]
    assert any("ADD COLUMN" in change for change in report["schema_changes"])
    assert target.table_comment() == TABLE_COMMENT
    assert target.columns() == {**expected_columns, "SHIPPED_AT": ("YES", "when it left the warehouse")}
    assert target.primary_key() == ["REGION", "ID"]
