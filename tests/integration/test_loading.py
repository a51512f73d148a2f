"""The load side against the local stack: atomic full refresh, MERGE, schema evolution,
COPY checks, cleanup. A failed run must leave the target exactly as it was."""

from __future__ import annotations

import io
import threading
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from aurora_batch.config import TableOptions

from tests.support.runs import FaultInjectingSession, make_runtime, replicate


class Source:
    """A PostgreSQL table in the test's schema, and its Snowflake target."""

    def __init__(self, stack: Any, schema: str, sf_schema: str, table: str) -> None:
        self.stack, self.schema, self.sf_schema, self.table = stack, schema, sf_schema, table

    def sql(self, statement: str, *params: Any) -> None:
        with self.stack.pg_connect() as connection, connection.cursor() as cursor:
            cursor.execute(statement.replace("{t}", f'"{self.schema}"."{self.table}"'), params or None)
            connection.commit()

    def target(self, query: str) -> list[tuple[Any, ...]]:
        connection = self.stack.snowflake_connect()
        try:
            cursor = connection.cursor()
            cursor.execute(query.replace("{t}", f'"ANALYTICS"."{self.sf_schema}"."{self.table.upper()}"'))
            return list(cursor.fetchall())
        finally:
            connection.close()

    def target_tables(self) -> list[str]:
        connection = self.stack.snowflake_connect()
        try:
            cursor = connection.cursor()
            cursor.execute(
                f"SELECT TABLE_NAME FROM ANALYTICS.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '{self.sf_schema}'"
            )
            return sorted(row[0] for row in cursor.fetchall())
        finally:
            connection.close()

    def options(self, **extra: Any) -> TableOptions:
        return TableOptions(schema_name=self.schema, table_name=self.table, target_schema=self.sf_schema, **extra)

    def staged_keys(self) -> list[str]:
        s3 = boto3.client("s3", endpoint_url=self.stack.moto_endpoint, region_name="us-east-1")
        prefix = f"{self.stack.staging_prefix}/{self.schema}.{self.table}/"
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.staging_bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture
def orders(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "orders")
    source.sql(
        "CREATE TABLE {t} (id bigint PRIMARY KEY, status varchar(10) NOT NULL, total numeric(10,2), "
        "doc jsonb, updated_at timestamptz NOT NULL)"
    )
    source.sql(
        "INSERT INTO {t} SELECT g, 'new', g * 1.5, jsonb_build_object('g', g), "
        "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 2000) g"
    )
    return source


def _counts_while(action: Any, source: Source) -> tuple[list[int], dict[str, Any]]:
    """Poll the target's row count from another connection for as long as `action` runs."""
    seen: list[int] = []
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result.update(action())
        finally:
            done.set()

    worker = threading.Thread(target=run)
    connection = source.stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        query = f'SELECT COUNT(*) FROM "ANALYTICS"."{source.sf_schema}"."ORDERS"'
        cursor.execute(query)
        seen.append(cursor.fetchone()[0])
        worker.start()
        while not done.is_set():
            cursor.execute(query)
            seen.append(cursor.fetchone()[0])
        worker.join()
        cursor.execute(query)
        seen.append(cursor.fetchone()[0])
    finally:
        connection.close()
    return seen, result


@pytest.mark.parametrize("strategy", ["overwrite", "swap"])
def test_full_refresh_is_atomic_for_a_concurrent_reader(orders: Source, strategy: str) -> None:
    assert replicate(orders.options(full_refresh_strategy=strategy))["status"] == "succeeded"
    orders.sql("INSERT INTO {t} SELECT g, 'new', 1, NULL, now() FROM generate_series(2001, 5000) g")

    seen, report = _counts_while(lambda: replicate(orders.options(full_refresh_strategy=strategy)), orders)

    assert report["status"] == "succeeded", report["error"]
    assert set(seen) <= {2000, 5000}, f"a reader saw a partial or empty target: {sorted(set(seen))}"
    assert seen[0] == 2000 and seen[-1] == 5000
    assert len(seen) > 2
    assert orders.target_tables() == ["ORDERS"]  # no work table left behind


@pytest.mark.parametrize(
    ("strategy", "failing_statement"),
    [
        ("swap", r"^INSERT INTO"),
        ("swap", r"SWAP WITH"),
        ("swap", r"^COPY INTO"),
        ("swap", r"COUNT\(\*\), MIN"),
        ("overwrite", r"^INSERT OVERWRITE"),
        ("overwrite", r"^COPY INTO"),
        ("overwrite", r"COUNT\(\*\), MIN"),
    ],
)
def test_a_full_refresh_failing_mid_way_leaves_the_target_unchanged(
    orders: Source, strategy: str, failing_statement: str
) -> None:
    assert replicate(orders.options(full_refresh_strategy=strategy))["status"] == "succeeded"
    before = orders.target("SELECT ID, STATUS, TOTAL FROM {t} ORDER BY ID")
    orders.sql("UPDATE {t} SET status = 'changed' WHERE id <= 100")
    orders.sql("DELETE FROM {t} WHERE id > 1900")

    report = replicate(
        orders.options(full_refresh_strategy=strategy),
        wrap_session=lambda real: FaultInjectingSession(real, failing_statement),
    )

    assert report["status"] == "failed"
    assert report["error"]["message"] == "injected failure"
    assert orders.target("SELECT ID, STATUS, TOTAL FROM {t} ORDER BY ID") == before
    assert orders.target_tables() == ["ORDERS"]
    assert orders.staged_keys(), "a failed run keeps its staged files for the cleanup function"


def test_cleanup_after_success_and_files_kept_after_failure(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    assert orders.staged_keys() == []

    failed = replicate(
        orders.options(full_refresh_strategy="swap"),
        wrap_session=lambda real: FaultInjectingSession(real, "SWAP WITH"),
    )
    assert failed["status"] == "failed"
    kept = orders.staged_keys()
    assert kept and all(f"/{failed['run_id']}/part-" in key for key in kept)

    kept_by_choice = replicate(orders.options(), make_runtime(STAGING_CLEANUP="false"))
    assert kept_by_choice["status"] == "succeeded"
    assert any(f"/{kept_by_choice['run_id']}/" in key for key in orders.staged_keys())


def test_incremental_merge_applies_updates_and_inserts_once(orders: Source) -> None:
    options = orders.options(mode="incremental", incremental_column="updated_at", lookback_seconds=3600)
    first = replicate(options)
    assert first["status"] == "succeeded", first["error"]
    assert first["rows_inserted"] == 2000
    assert first["watermark_after"] == "2024-01-01T00:33:20+00:00"

    orders.sql(
        "UPDATE {t} SET status = 'paid', total = total + 1, updated_at = '2024-01-01 01:00:00+00' WHERE id <= 10"
    )
    orders.sql(
        "INSERT INTO {t} VALUES (2001, 'new', 9.99, '{{\"x\": 1}}', '2024-01-01 01:00:01+00')".replace(
            "{{", "{"
        ).replace("}}", "}")
    )
    second = replicate(options)

    assert second["status"] == "succeeded", second["error"]
    # the lookback re-reads rows already loaded; the MERGE makes that overlap harmless
    assert second["rows_extracted"] > 11
    assert second["rows_inserted"] == 1
    assert orders.target("SELECT COUNT(*), COUNT(DISTINCT ID) FROM {t}") == [(2001, 2001)]
    assert orders.target("SELECT STATUS, TOTAL::VARCHAR FROM {t} WHERE ID = 1") == [("paid", "2.50")]
    assert orders.target("SELECT DOC:x::NUMBER FROM {t} WHERE ID = 2001") == [(1,)]
    assert second["watermark_after"] == "2024-01-01T01:00:01+00:00"


def test_merge_deduplicates_staged_rows_keeping_the_newest(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str
) -> None:
    events = Source(stack, pg_schema, sf_schema, "events")
    events.sql("CREATE TABLE {t} (account text, amount integer, changed_at timestamp)")
    events.sql(
        "INSERT INTO {t} VALUES ('a', 1, '2024-01-01 00:00:01'), ('a', 3, '2024-01-01 00:00:03'), "
        "('a', 2, '2024-01-01 00:00:02'), ('b', 7, '2024-01-01 00:00:01')"
    )
    options = events.options(mode="incremental", incremental_column="changed_at", merge_keys=("account",))

    report = replicate(options)

    assert report["status"] == "succeeded", report["error"]
    assert events.target("SELECT ACCOUNT, AMOUNT FROM {t} ORDER BY ACCOUNT") == [("a", 3), ("b", 7)]


def test_incremental_without_a_key_fails_instead_of_appending_duplicates(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str
) -> None:
    events = Source(stack, pg_schema, sf_schema, "nokey")
    events.sql("CREATE TABLE {t} (account text, changed_at timestamp)")
    events.sql("INSERT INTO {t} VALUES ('a', now())")

    report = replicate(events.options(mode="incremental", incremental_column="changed_at"))

    assert report["status"] == "failed"
    assert "merge_keys" in report["error"]["message"]
    assert events.target_tables() == []


def test_an_added_source_column_is_added_to_the_target(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    orders.sql("ALTER TABLE {t} ADD COLUMN coupon text")
    orders.sql("UPDATE {t} SET coupon = 'SAVE' || id WHERE id = 5")

    report = replicate(orders.options())

    assert report["status"] == "succeeded", report["error"]
    assert any('ADD COLUMN "COUPON" VARCHAR' in change for change in report["schema_changes"])
    assert orders.target("SELECT COUPON FROM {t} WHERE ID = 5") == [("SAVE5",)]


def test_a_widened_column_is_changed_in_place(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    orders.sql("ALTER TABLE {t} ALTER COLUMN status TYPE varchar(40), ALTER COLUMN total TYPE numeric(14,2)")
    orders.sql("UPDATE {t} SET status = 'a much longer status value', total = 123456789012.34 WHERE id = 1")

    report = replicate(orders.options())

    assert report["status"] == "succeeded", report["error"]
    assert report["schema_changes"] and any('"STATUS" SET DATA TYPE VARCHAR(40)' in c for c in report["schema_changes"])
    assert any('"TOTAL" SET DATA TYPE NUMBER(14,2)' in c for c in report["schema_changes"])
    rows = orders.target("SELECT STATUS, TOTAL::VARCHAR FROM {t} WHERE ID = 1")
    assert rows == [("a much longer status value", "123456789012.34")]


def test_an_incompatible_change_is_rejected_and_changes_nothing(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    before = orders.target("SELECT * FROM {t} ORDER BY ID")
    orders.sql("ALTER TABLE {t} ADD COLUMN extra text")
    orders.sql("ALTER TABLE {t} ALTER COLUMN status TYPE integer USING length(status)")

    report = replicate(orders.options())

    assert report["status"] == "failed"
    assert report["error"]["error"] == "TargetSchemaError"
    assert report["error"]["column"] == "STATUS"
    assert "ORDERS" in report["error"]["table"]
    assert orders.target("SELECT * FROM {t} ORDER BY ID") == before  # not even the new column was added
    assert orders.target_tables() == ["ORDERS"]


def test_an_incompatible_change_can_load_into_a_versioned_column_instead(orders: Source) -> None:
    options = orders.options(
        mode="incremental", incremental_column="updated_at", on_incompatible_change="versioned_column"
    )
    assert replicate(options)["status"] == "succeeded"
    orders.sql("ALTER TABLE {t} ALTER COLUMN status TYPE integer USING length(status)")
    orders.sql("UPDATE {t} SET status = 42, updated_at = updated_at + interval '1 day' WHERE id <= 10")

    first = replicate(options)
    orders.sql("UPDATE {t} SET status = 43, updated_at = updated_at + interval '2 days' WHERE id = 11")
    second = replicate(options)

    assert first["status"] == "succeeded", first["error"]
    assert any('ADD COLUMN "STATUS__V2" NUMBER(10,0)' in change for change in first["schema_changes"])
    assert any("STATUS__V2" in warning for warning in first["warnings"])
    assert second["status"] == "succeeded", second["error"]
    assert not any("ADD COLUMN" in change for change in second["schema_changes"])  # __V2 is reused
    rows = orders.target("SELECT ID, STATUS, STATUS__V2 FROM {t} WHERE ID IN (1, 11, 12) ORDER BY ID")
    assert rows == [(1, "new", 42), (11, "new", 43), (12, "new", None)]


def test_a_full_refresh_with_a_versioned_column_leaves_the_old_one_null(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    orders.sql("ALTER TABLE {t} ALTER COLUMN total TYPE text")

    report = replicate(orders.options(on_incompatible_change="versioned_column"))

    assert report["status"] == "succeeded", report["error"]
    rows = orders.target("SELECT COUNT(*), COUNT(TOTAL), COUNT(TOTAL__V2), MAX(TOTAL__V2) FROM {t}")
    assert rows == [(2000, 0, 2000, "999.00")]


def test_a_key_column_is_never_versioned(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    orders.sql("ALTER TABLE {t} ALTER COLUMN id TYPE text")

    report = replicate(orders.options(on_incompatible_change="versioned_column"))

    assert report["status"] == "failed"
    assert (report["error"]["error"], report["error"]["column"]) == ("TargetSchemaError", "ID")
    assert orders.target_tables() == ["ORDERS"]


def test_a_copy_row_count_mismatch_is_detected(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    before = orders.target("SELECT COUNT(*) FROM {t}")
    s3 = boto3.client("s3", endpoint_url=orders.stack.moto_endpoint, region_name="us-east-1")

    def truncate_first_part(statement: str) -> None:
        # Between staging and COPY a part loses rows: COPY's per-file result must expose it.
        key = next(k for k in orders.staged_keys() if k.endswith("part-00000.parquet"))
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=orders.stack.staging_bucket, Key=key)["Body"].read()))
        buffer = io.BytesIO()
        pq.write_table(table.slice(0, table.num_rows - 1), buffer)
        s3.put_object(Bucket=orders.stack.staging_bucket, Key=key, Body=buffer.getvalue())

    report = replicate(
        orders.options(),
        wrap_session=lambda real: FaultInjectingSession(real, r"^COPY INTO", before=truncate_first_part, fail=False),
    )

    assert report["status"] == "failed"
    assert report["error"]["error"] == "ValidationError"
    assert report["error"]["file"].endswith("part-00000.parquet")
    assert report["error"]["rows_loaded"] == report["error"]["rows_staged"] - 1
    assert orders.target("SELECT COUNT(*) FROM {t}") == before


def test_every_statement_carries_the_run_query_tag(orders: Source) -> None:
    report = replicate(orders.options(full_refresh_strategy="swap"))
    assert report["status"] == "succeeded"
    tag = f"aurora-batch:{orders.schema}.orders:{report['run_id']}"
    history = orders.stack.snowflake_query_history()
    tagged = [entry for entry in history if entry.get("query_tag") == tag]
    assert any("SWAP WITH" in entry["sql_text"] for entry in tagged)
    assert any(entry["sql_text"].startswith("COPY INTO") for entry in tagged)


def test_a_where_naming_a_missing_column_fails_permanently_and_changes_nothing(orders: Source) -> None:
    report = replicate(orders.options(where="no_such_column > 1"))

    assert report["status"] == "failed"
    assert report["error"]["error"] == "SourceQueryError"
    assert report["error"]["retryable"] is False
    assert report["error"]["sqlstate"] == "42703"
    assert "no_such_column" in report["error"]["message"]
    assert orders.target_tables() == []  # not even an empty target
