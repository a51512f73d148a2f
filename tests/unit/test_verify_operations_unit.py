"""Verify's operational options and what status makes of a verify report."""

from __future__ import annotations

from typing import Any

import pytest
from aurora_batch.config import TableOptions, replication_event, table_options
from aurora_batch.errors import ConfigError
from aurora_batch.logic.invocation import verify_event
from aurora_batch.logic.status import verify_drift
from aurora_batch.logic.verify.entry import _ACTION_KEYS


def _options(**extra: Any) -> TableOptions:
    return TableOptions(table_name="orders", mode="incremental", incremental_column="updated_at", **extra)


def test_verify_repair_defaults_to_true_and_verify_on_drift_to_false() -> None:
    options = _options()
    assert (options.verify_repair, options.verify_on_drift) == (True, False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "needs row_digest"),
        ({"row_digest": True, "delete_mode": "off"}, "repairing verify"),
        ({"row_digest": True, "verify_repair": False}, "repairing verify"),
    ],
)
def test_verify_on_drift_needs_a_verify_that_brings_the_counts_together(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        table_options({"table_name": "orders", "verify_on_drift": True, **extra}, "TABLES")


@pytest.mark.parametrize("key", ["verify_on_drift", "verify_repair", "verify_schedule", "delete_mode"])
def test_verify_options_are_configuration_only(key: str) -> None:
    with pytest.raises(ConfigError, match="configuration only") as caught:
        replication_event({"table_name": "orders", key: True})
    assert caught.value.fields["field"] == key


def test_the_verify_event_is_what_the_verify_action_takes() -> None:
    options = _options(row_digest=True, verify_repair=False, schema_name="sales")
    event = verify_event(options)
    assert event == {"action": "verify", "schema_name": "sales", "table_name": "orders", "repair": False}
    assert set(event) == _ACTION_KEYS


@pytest.mark.parametrize(
    ("last_verify", "shown"),
    [
        (None, None),
        ({"status": "exact", "drift": 0}, "none"),
        ({"status": "drift", "drift": 37, "remaining": None}, "37 rows"),
        ({"status": "drift", "drift": 37, "remaining": 2}, "2 rows"),
        ({"status": "repaired", "drift": 1200, "remaining": 0}, "1,200 repaired"),
        ({"status": "failed", "drift": 0}, "failed"),
    ],
)
def test_status_shows_the_last_verify_in_a_few_words(last_verify: dict[str, Any] | None, shown: str | None) -> None:
    assert verify_drift(last_verify) == shown
