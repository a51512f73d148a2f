"""Verify and repair on the local stack: real PostgreSQL, fakesnow, moto and OpenBao. Each test
damages one side behind the replicator's back and checks what verify finds and what repair fixes."""

from __future__ import annotations

from typing import Any

import pytest
from aurora_batch.config import TableOptions
from aurora_batch.errors import ConfigError
from aurora_batch.logic.verify.entry import verify_table
from aurora_batch.logic.verify.run import refuse_unverifiable

from tests.integration.test_loading import Source
from tests.support.runs import make_runtime, replicate

# One range on the snapshot's connection, or three read at once on connections importing it.
RANGES = {"one range": {}, "three ranges": {"EXTRACT_STREAMS": "3", "EXTRACT_SLICE_MIN_BYTES": "0"}}


def _verify(options: TableOptions, *, repair: bool = False, **settings: str) -> dict[str, Any]:
    report = verify_table(options, make_runtime(**settings), repair=repair).to_dict()
    assert report["status"] != "failed", report["error"]
    return report


@pytest.fixture
def orders(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    source = Source(stack, pg_schema, sf_schema, "orders")
    source.sql("CREATE TABLE {t} (id bigint PRIMARY KEY, label text, amount numeric(12,2), updated_at timestamptz)")
    source.sql(
        "INSERT INTO {t} SELECT g, 'v1', g * 1.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' "
        "FROM generate_series(1, 3000) g"
    )
    return source


def _incremental(source: Source, **extra: Any) -> TableOptions:
    return source.options(
        mode="incremental", incremental_column="updated_at", lookback_seconds=0, row_digest=True, **extra
    )


def _target_ids(source: Source, *, live_only: bool = True) -> list[int]:
    where = ' WHERE "_AB_DELETED_AT" IS NULL' if live_only else ""
    return [int(r[0]) for r in source.target(f"SELECT ID FROM {{t}}{where} ORDER BY ID")]


def test_an_unchanged_table_is_exact(orders: Source) -> None:
    options = _incremental(orders)
    assert replicate(options)["status"] == "succeeded"
    report = _verify(options)
    assert report["status"] == "exact"
    assert (report["source_rows"], report["target_rows"], report["drift"]) == (3000, 3000, 0)


@pytest.mark.parametrize("ranges", RANGES.values(), ids=RANGES.keys())
def test_deletes_silent_updates_and_target_damage_are_found_and_repaired_soft(
    orders: Source, ranges: dict[str, str]
) -> None:
    options = _incremental(orders)
    assert replicate(options)["status"] == "succeeded"
    orders.sql("DELETE FROM {t} WHERE id IN (10, 20, 30)")
    orders.sql("UPDATE {t} SET label = 'silent' WHERE id IN (40, 50)")  # updated_at untouched
    orders.target("DELETE FROM {t} WHERE ID IN (60, 70)")

    found = _verify(options, **ranges)
    assert (found["status"], found["missing"], found["deleted"], found["changed"]) == ("drift", 2, 3, 2)
    assert sorted(found["samples"]["deleted"]) == [["10"], ["20"], ["30"]]
    assert found["source_ranges"] == (3 if ranges else 1)

    repaired = _verify(options, repair=True, **ranges)
    assert repaired["status"] == "repaired" and repaired["remaining"] == 0
    assert repaired["rows_read_by_copy"] == 4  # only the missing and changed keys are re-read
    assert repaired["repaired_deleted"] == 3
    # soft: the rows stay, marked; the silent update and the removed rows are back
    assert _target_ids(orders, live_only=False).count(10) == 1
    assert 10 not in _target_ids(orders)
    assert orders.target("SELECT LABEL FROM {t} WHERE ID = 40") == [("silent",)]
    assert {60, 70} <= set(_target_ids(orders))
    assert _verify(options, **ranges)["status"] == "exact"

    # A key that comes back clears its mark.
    orders.sql("INSERT INTO {t} VALUES (10, 'back', 1, now())")
    assert replicate(options)["status"] == "succeeded"
    assert 10 in _target_ids(orders)
    assert _verify(options, **ranges)["status"] == "exact"


def test_hard_deletes_remove_the_rows(orders: Source) -> None:
    options = _incremental(orders, delete_mode="hard")
    assert replicate(options)["status"] == "succeeded"
    orders.sql("DELETE FROM {t} WHERE id IN (7, 8)")
    repaired = _verify(options, repair=True)
    assert (repaired["status"], repaired["deleted"], repaired["repaired_deleted"]) == ("repaired", 2, 2)
    assert not {7, 8} & set(_target_ids(orders, live_only=False))


def test_rows_newer_than_the_watermark_are_pending_not_drift(orders: Source) -> None:
    options = _incremental(orders)
    assert replicate(options)["status"] == "succeeded"
    orders.sql("INSERT INTO {t} VALUES (9001, 'new', 1, now())")
    orders.sql("UPDATE {t} SET label = 'moved', updated_at = now() WHERE id = 5")
    report = _verify(options, repair=True)
    assert (report["status"], report["pending"], report["drift"], report["rows_read_by_copy"]) == ("exact", 2, 0, 0)


@pytest.mark.parametrize(
    ("ddl", "rows"),
    [
        ("(region text, id int, label text, PRIMARY KEY (region, id))", "SELECT 'r' || (g % 7), g, 'v' FROM g"),
        # Orders differ between a linguistic collation and byte order: buckets hash the key instead.
        ('(code text COLLATE "en-x-icu" PRIMARY KEY, label text)', "SELECT chr(65 + g % 58) || g, 'v' FROM g"),
        ("(id uuid PRIMARY KEY, label text)", "SELECT md5(g::text)::uuid, 'v' FROM g"),
    ],
    ids=["composite", "collated-text", "uuid"],
)
def test_key_kinds_are_verified_and_repaired(
    stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str, ddl: str, rows: str
) -> None:
    source = Source(stack, pg_schema, sf_schema, "keyed")
    source.sql(f"CREATE TABLE {{t}} {ddl}")
    source.sql(f"INSERT INTO {{t}} WITH g AS (SELECT generate_series(1, 500) AS g) {rows}")
    options = source.options(row_digest=True, delete_mode="hard")
    assert replicate(options)["status"] == "succeeded"
    assert _verify(options)["status"] == "exact"
    source.sql("DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t} LIMIT 3)")
    source.sql("UPDATE {t} SET label = 'changed' WHERE ctid IN (SELECT ctid FROM {t} LIMIT 2)")
    found = _verify(options, repair=True)
    assert (found["deleted"], found["changed"], found["status"]) == (3, 2, "repaired")
    assert _verify(options)["status"] == "exact"


def test_bad_input_is_refused_clearly(orders: Source, stack: Any, pg_schema: str, sf_schema: str) -> None:
    with pytest.raises(ConfigError, match="row_digest"):
        refuse_unverifiable(orders.options())
    keyless = Source(stack, pg_schema, sf_schema, "keyless")
    keyless.sql("CREATE TABLE {t} (id int, label text)")
    keyless.sql("INSERT INTO {t} VALUES (1, 'a')")
    report = verify_table(keyless.options(row_digest=True), make_runtime()).to_dict()
    assert report["status"] == "failed"
    assert "no primary key and no merge_keys" in report["error"]["message"]
