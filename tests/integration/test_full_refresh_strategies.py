"""A full refresh that keeps the table (INSERT OVERWRITE) or replaces it (SWAP WITH), the checks
before either, statements that outlive an invocation, and NOT NULL relaxed where the loader stops
supplying a column."""

from __future__ import annotations

from typing import Any

import pytest
from aurora_batch.logic.replicate import Budget

from tests.integration import test_loading
from tests.support.emulator_holds import EmulatorHolds, holding
from tests.support.runs import replicate

Source = test_loading.Source
orders = test_loading.orders  # the fixture: a PostgreSQL orders table and its target


def _statements(source: Source, run_id: str, prefix: str) -> list[str]:
    tag = f"aurora-batch:{source.schema}.orders:{run_id}"
    history = source.stack.snowflake_query_history()
    return [e["sql_text"] for e in history if e.get("query_tag") == tag and e["sql_text"].startswith(prefix)]


def _budget_gone_while_held(holds: EmulatorHolds) -> Budget:
    """Plenty of time, until a statement is held running in Snowflake: then none."""
    return Budget(remaining=lambda: 0.0 if holds.held() else 1e9, margin_seconds=1)


@pytest.mark.parametrize(
    ("strategy", "statement"),
    [("overwrite", "COPY INTO"), ("overwrite", "INSERT OVERWRITE"), ("swap", "INSERT INTO")],
)
def test_a_full_refresh_outliving_the_invocation_waits_for_its_statement(
    orders: Source, strategy: str, statement: str
) -> None:
    options = orders.options(full_refresh_strategy=strategy)
    assert replicate(options)["status"] == "succeeded"
    orders.sql("INSERT INTO {t} SELECT g, 'new', 1, NULL, now() FROM generate_series(2001, 2500) g")

    with holding(orders.stack, f"^{statement}") as holds:
        first = replicate(options, budget=_budget_gone_while_held(holds))
        assert first["status"] == "continued", first["error"]
        assert orders.target("SELECT COUNT(*) FROM {t}") == [(2000,)]  # still running: nothing committed
        holds.release()
    second = replicate(options)

    assert second["status"] == "succeeded", second["error"]
    assert second["run_id"] == first["run_id"]
    assert len(_statements(orders, first["run_id"], statement)) == 1  # waited for, never run again
    assert len(_statements(orders, first["run_id"], "COPY INTO")) == 1
    assert orders.target("SELECT COUNT(*), COUNT(DISTINCT ID) FROM {t}") == [(2500, 2500)]
    assert orders.target_tables() == ["ORDERS"]


@pytest.mark.parametrize("statement", ["COPY INTO", "MERGE INTO"])
def test_an_incremental_run_outliving_the_invocation_waits_for_its_statement(orders: Source, statement: str) -> None:
    options = orders.options(mode="incremental", incremental_column="updated_at", lookback_seconds=0)
    assert replicate(options)["status"] == "succeeded"
    orders.sql("UPDATE {t} SET status = 'paid', updated_at = updated_at + interval '1 day' WHERE id <= 10")
    orders.sql("INSERT INTO {t} SELECT g, 'new', 1, NULL, now() FROM generate_series(2001, 2010) g")

    with holding(orders.stack, f"^{statement}") as holds:
        first = replicate(options, budget=_budget_gone_while_held(holds))
        assert first["status"] == "continued", first["error"]
        holds.release()
    second = replicate(options)
    third = replicate(options)

    assert second["status"] == "succeeded", second["error"]
    assert len(_statements(orders, first["run_id"], statement)) == 1
    assert second["watermark_after"] is not None and second["watermark_after"] != first["watermark_before"]
    assert third["rows_inserted"] == 0  # the watermark moved on: at most the newest instant is read again
    assert orders.target("SELECT COUNT(*), COUNT(DISTINCT ID), COUNT_IF(STATUS = 'paid') FROM {t}") == [
        (2010, 2010, 10)
    ]


@pytest.mark.parametrize("strategy", ["overwrite", "swap"])
def test_a_full_refresh_of_a_target_the_loader_does_not_own_fails_naming_the_privilege(
    orders: Source, strategy: str
) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    orders.target("GRANT OWNERSHIP ON TABLE {t} TO ROLE REPORTING_OWNER COPY CURRENT GRANTS")
    orders.sql("DELETE FROM {t} WHERE id > 1000")

    report = replicate(orders.options(full_refresh_strategy=strategy))

    assert report["status"] == "failed"
    assert (report["error"]["error"], report["error"]["privilege"]) == ("TargetPrivilegeError", "OWNERSHIP")
    assert report["error"]["owner"] == "REPORTING_OWNER"
    assert "OWNERSHIP" in report["error"]["message"]
    assert orders.target("SELECT COUNT(*) FROM {t}") == [(2000,)]


def test_a_swap_that_would_break_a_stream_fails_and_overwrite_keeps_the_stream(orders: Source) -> None:
    assert replicate(orders.options())["status"] == "succeeded"
    orders.target(f'CREATE STREAM "ANALYTICS"."{orders.sf_schema}"."ORDERS_CHANGES" ON TABLE {{t}}')
    orders.sql("DELETE FROM {t} WHERE id > 1000")

    swapped = replicate(orders.options(full_refresh_strategy="swap"))
    overwritten = replicate(orders.options(full_refresh_strategy="overwrite"))

    assert swapped["status"] == "failed"
    assert swapped["error"]["stream"] == f"ANALYTICS.{orders.sf_schema}.ORDERS_CHANGES"
    assert "ORDERS_CHANGES" in swapped["error"]["message"]
    assert overwritten["status"] == "succeeded", overwritten["error"]
    assert orders.target("SELECT COUNT(*) FROM {t}") == [(1000,)]
    streams = orders.target('SHOW STREAMS IN DATABASE "ANALYTICS"')
    assert (f"ANALYTICS.{orders.sf_schema}.ORDERS", "ORDERS_CHANGES") in {
        (s[6], s[1]) for s in streams
    }  # Snowflake's column order


@pytest.mark.parametrize(
    ("change", "new_status"),
    [
        ("ALTER TABLE {t} DROP COLUMN status", None),  # dropped from the source
        ("ALTER TABLE {t} ALTER COLUMN status DROP NOT NULL", "NULL"),  # made nullable in the source
        ("ALTER TABLE {t} ALTER COLUMN status TYPE integer USING length(status)", "5"),  # versioned
        (None, "'x'"),  # excluded by configuration
    ],
)
def test_not_null_is_dropped_where_the_loader_stops_supplying_a_column(
    orders: Source, change: str | None, new_status: str | None
) -> None:
    extra: dict[str, Any] = {"mode": "incremental", "incremental_column": "updated_at"}
    assert replicate(orders.options(**extra))["status"] == "succeeded"
    if change is None:
        extra["exclude_columns"] = ("status",)
    else:
        orders.sql(change)
        extra["on_incompatible_change"] = "versioned_column"
    if new_status is None:
        orders.sql("INSERT INTO {t} (id, total, updated_at) SELECT 3001, 1, now() + interval '1 day'")
    else:
        orders.sql(
            f"INSERT INTO {{t}} (id, status, total, updated_at) SELECT 3001, {new_status}, 1, now() + interval '1 day'"
        )

    report = replicate(orders.options(**extra))

    assert report["status"] == "succeeded", report["error"]
    assert any('ALTER COLUMN "STATUS" DROP NOT NULL' in c for c in report["schema_changes"])
    assert orders.target("SELECT STATUS FROM {t} WHERE ID = 3001") == [(None,)]
