"""The typed configuration: env, then event, then per-table settings; bad input rejected with the
field and the value received, before any connection is opened."""

from __future__ import annotations

from typing import Any

import pytest
from aurora_batch.config import settings_from_env, tables_for_event
from aurora_batch.errors import ConfigError
from aurora_batch.model import Mode

BASE = {
    "VAULT_ADDR": "https://vault.example:8200",
    "VAULT_TOKEN": "s.not-a-real-token",
    "STAGING_BUCKET": "staging-bucket",
    "SNOWFLAKE_STAGE": "ANALYTICS.PUBLIC.STAGE",
    "STATE_TABLE": "state-table",
}


def settings(**env: str) -> Any:
    return settings_from_env({**BASE, **env})


def test_defaults_follow_the_seed() -> None:
    s = settings()
    assert s.vault_secret_path_aurora == "secret/aurora/connection"
    assert s.vault_secret_path_snowflake == "secret/snowflake/credentials"
    assert s.staging_format == "parquet"
    assert s.staging_cleanup is True


def test_env_then_event_then_table_settings_override_each_other() -> None:
    s = settings(
        REPLICATION_MODE="incremental",
        INCREMENTAL_COLUMN="updated_at",
        BATCH_SIZE="500",
        TABLES='{"public.orders": {"batch_size": 900, "lookback_seconds": 60}}',
    )
    (orders,) = tables_for_event(s, {"table_name": "orders", "lookback_seconds": 10})
    assert orders.mode is Mode.INCREMENTAL  # from the environment
    assert orders.batch_size == 900  # TABLES beats the environment
    assert orders.lookback_seconds == 10  # the event beats TABLES
    (listed,) = tables_for_event(s, {"tables": [{"table_name": "orders", "batch_size": 7}]})
    assert listed.batch_size == 7  # the table's own entry beats everything


def test_tables_accepts_a_list_or_a_map() -> None:
    as_map = settings(TABLES='{"sales.a": {}, "sales.b": {"mode": "full"}}')
    as_list = settings(
        TABLES='[{"schema_name": "sales", "table_name": "a"}, {"schema_name": "sales", "table_name": "b"}]'
    )
    assert [t.ref.qualified for t in tables_for_event(as_map, {})] == ["sales.a", "sales.b"]
    assert [t.ref.qualified for t in tables_for_event(as_list, {})] == ["sales.a", "sales.b"]


def test_a_scheduled_event_without_input_uses_table_name() -> None:
    (table,) = tables_for_event(settings(TABLE_NAME="customers"), {})
    assert table.ref.qualified == "public.customers"


@pytest.mark.parametrize(
    ("event", "field", "shown"),
    [
        ({"table_name": "t", "colour": "blue"}, "colour", "colour"),
        ({"table_name": "t", "batch_size": "many"}, "batch_size", "'many'"),
        ({"table_name": "t", "mode": "sometimes"}, "mode", "'sometimes'"),
        ({"table_name": "t", "mode": "incremental"}, "incremental_column", "incremental_column"),
        ({"table_name": "t", "last_value": "yesterday"}, "last_value", "'yesterday'"),
        ({"table_name": "t", "lookback_seconds": -1}, "lookback_seconds", "-1"),
        ({"table_name": "t", "masking": {"email": {"rule": "scramble"}}}, "masking", "'scramble'"),
    ],
)
def test_bad_events_are_rejected_naming_the_field_and_value(event: dict[str, Any], field: str, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tables_for_event(settings(), event)
    assert field in str(caught.value)
    assert shown in str(caught.value)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"STAGING_FORMAT": "xml"}, "staging_format"),
        ({"STAGING_CLEANUP": "maybe"}, "STAGING_CLEANUP"),
        ({"SNOWFLAKE_STAGE": "stage; DROP TABLE x"}, "snowflake_stage"),
        ({"LEASE_SECONDS": "5"}, "lease_seconds"),
        ({"TABLES": "{not json"}, "TABLES"),
        ({"TABLES": '{"public.t": {"mode": "bogus"}}'}, "mode"),
    ],
)
def test_bad_environment_is_rejected_naming_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    assert field in str(caught.value)


def test_vault_needs_exactly_an_auth_method() -> None:
    without = {k: v for k, v in BASE.items() if k != "VAULT_TOKEN"}
    with pytest.raises(ConfigError, match="VAULT_TOKEN or VAULT_ROLE"):
        settings_from_env(without)


def test_the_token_value_never_appears_in_a_config_error_or_repr() -> None:
    token = "s.very-secret-token-value"
    s = settings_from_env({**BASE, "VAULT_TOKEN": token})
    assert token not in repr(s)
    assert token not in str(s.model_dump())
    with pytest.raises(ConfigError) as caught:
        settings_from_env({**BASE, "VAULT_TOKEN": token, "LEASE_SECONDS": "x"})
    assert token not in str(caught.value)


def test_no_table_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no table to replicate"):
        tables_for_event(settings(), {})
