"""The typed configuration: env, then TABLES, then the event's few selections; bad input rejected
with the field and the value received, before any connection is opened."""

from __future__ import annotations

from typing import Any

import pytest
from aurora_batch.config import CONFIGURATION_ONLY, ColumnMask, settings_from_env, tables_for_event
from aurora_batch.config.events import MAX_EVENT_TABLES, MAX_NAME_LENGTH
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


def test_env_then_tables_then_the_events_selections_override_each_other() -> None:
    s = settings(
        REPLICATION_MODE="incremental",
        INCREMENTAL_COLUMN="updated_at",
        BATCH_SIZE="500",
        TABLES='{"public.orders": {"batch_size": 900, "lookback_seconds": 60}, "public.items": {}}',
    )
    (orders,) = tables_for_event(s, {"table_name": "orders", "incremental_column": "changed_at"})
    assert orders.mode is Mode.INCREMENTAL  # from the environment
    assert orders.batch_size == 900  # TABLES beats the environment
    assert orders.lookback_seconds == 60  # from TABLES: an event cannot set it
    assert orders.incremental_column == "changed_at"  # a selection the event may make
    (listed,) = tables_for_event(s, {"tables": ["public.items"], "mode": "full"})
    assert (listed.batch_size, listed.mode) == (500, Mode.FULL)


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
        ({"table_name": "t", "mode": "sometimes"}, "mode", "'sometimes'"),
        ({"table_name": "t", "mode": "incremental"}, "incremental_column", "incremental_column"),
        ({"table_name": "t", "last_value": "yesterday"}, "last_value", "'yesterday'"),
        ({"table_name": "t", "full_refresh": "maybe"}, "full_refresh", "'maybe'"),
        ({"tables": [{"table_name": "t", "colour": "blue"}]}, "colour", "colour"),
    ],
)
def test_bad_events_are_rejected_naming_the_field_and_value(event: dict[str, Any], field: str, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tables_for_event(settings(TABLE_NAME="t"), event)
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


# --- the event contract: an event selects, configuration decides --------------------------------

LISTED = settings(TABLES='{"public.people": {"masking": {"email": {"rule": "hash"}}, "batch_size": 5}}')


@pytest.mark.parametrize("key", sorted(CONFIGURATION_ONLY))
def test_an_event_carrying_a_configuration_option_is_refused_naming_it(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tables_for_event(LISTED, {"table_name": "people", key: None})
    assert caught.value.fields["field"] == key
    assert repr(key) in str(caught.value) and "configuration only" in str(caught.value)


@pytest.mark.parametrize(
    "event",
    [
        {"table_name": "people", "where": "true; COMMIT; INSERT INTO public.victim VALUES (1)"},
        {"table_name": "people", "masking": {"email": {"rule": "mask", "keep_last": 100000}}},
        {"table_name": "people", "transform": "itertools.cycle"},
        {"tables": [{"table_name": "people", "target_table": "PAYROLL"}]},
        {"masking": {"email": None}},
    ],
)
def test_no_event_weakens_replaces_or_reroutes_a_configured_table(event: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="configuration only"):
        tables_for_event(LISTED, event)
    (people,) = tables_for_event(LISTED, {"table_name": "people"})
    assert people.masking == {"email": ColumnMask(rule="hash")}


def test_an_event_may_name_only_configured_or_allowed_tables() -> None:
    with pytest.raises(ConfigError) as caught:
        tables_for_event(LISTED, {"schema_name": "hr", "table_name": "salaries", "full_refresh": True})
    assert caught.value.fields == {"field": "table_name", "table": "hr.salaries"}
    assert "'hr.salaries'" in str(caught.value)
    with pytest.raises(ConfigError, match=r"'public\.other'"):
        tables_for_event(LISTED, {"tables": ["people", "public.other"]})

    allowed = settings(ALLOWED_TABLES="sales.*, hr.departments", BATCH_SIZE="77")
    names = [
        t.ref.qualified
        for t in tables_for_event(allowed, {"tables": ["sales.a", {"schema_name": "hr", "table_name": "departments"}]})
    ]
    assert names == ["sales.a", "hr.departments"]
    (allowed_table,) = tables_for_event(allowed, {"schema_name": "sales", "table_name": "b"})
    assert allowed_table.batch_size == 77  # the environment's defaults: nothing from the event
    with pytest.raises(ConfigError, match=r"'hr\.salaries'"):
        tables_for_event(allowed, {"schema_name": "hr", "table_name": "salaries"})
    # fnmatch on the whole "schema.table": a newline or a suffix does not slip past a pattern.
    with pytest.raises(ConfigError):
        tables_for_event(settings(ALLOWED_TABLES="sales.a"), {"tables": ["sales.a\n"]})


def test_the_single_table_setting_is_configuration_too() -> None:
    (table,) = tables_for_event(settings(TABLE_NAME="customers", SCHEMA_NAME="crm"), {"table_name": "customers"})
    assert table.ref.qualified == "crm.customers"
    with pytest.raises(ConfigError, match=r"'crm\.orders'"):
        tables_for_event(settings(TABLE_NAME="customers", SCHEMA_NAME="crm"), {"table_name": "orders"})


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"tables": [f"public.t{n}" for n in range(MAX_EVENT_TABLES + 1)]}, "tables"),
        ({"table_name": "t" * (MAX_NAME_LENGTH + 1)}, "table_name"),
        ({"table_name": "people", "incremental_column": "c" * (MAX_NAME_LENGTH + 1)}, "incremental_column"),
        ({"table_name": "people", "last_value": "1" * 65}, "last_value"),
        ({"table_name": "people", "run_id": "r" * 65}, "run_id"),
        ({"tables": []}, "tables"),
        ({"tables": [42]}, "tables"),
    ],
)
def test_event_sizes_are_bounded(event: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tables_for_event(LISTED, event)
    assert field in caught.value.fields["field"]


def test_the_invocation_keys_are_accepted() -> None:
    event = {"table_name": "people", "dry_run": True, "continuation": True, "run_id": "r1", "time_budget_seconds": 60}
    (people,) = tables_for_event(LISTED, event)
    assert people.batch_size == 5


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"SNOWFLAKE_ENDPOINT": "http://snowflake.example:8080"}, "snowflake_endpoint"),
        ({"SNOWFLAKE_ENDPOINT": "HTTP://snowflake.example"}, "snowflake_endpoint"),
        ({"VAULT_TOKEN": "", "VAULT_ROLE": "replication"}, "vault_iam_server_id"),
        ({"AURORA_SSLMODE": "sometimes"}, "aurora_sslmode"),
        ({"TABLES_SOURCE": "ssm"}, "TABLES_PARAMETER"),
        ({"TABLES_SOURCE": "ftp", "TABLES_PARAMETER": "x"}, "tables_source"),
        ({"SNOWFLAKE_STAGE": "DB.S.STAGE\n"}, "snowflake_stage"),
    ],
)
def test_strict_transport_and_sources_by_default(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    assert caught.value.fields["field"] == field


def test_the_local_only_settings_lower_transport_explicitly() -> None:
    assert settings().aurora_sslmode == "verify-full"
    local = settings(SNOWFLAKE_ENDPOINT="http://127.0.0.1:1", SNOWFLAKE_ALLOW_INSECURE_ENDPOINT="true")
    assert local.snowflake_endpoint == "http://127.0.0.1:1"
    assert settings(SNOWFLAKE_ENDPOINT="https://acct.privatelink.snowflakecomputing.com").snowflake_endpoint
    iam = settings(VAULT_TOKEN="", VAULT_ROLE="replication", VAULT_IAM_SERVER_ID="vault.example.com")
    assert iam.vault_iam_server_id == "vault.example.com"
    assert settings(VAULT_TOKEN="", VAULT_ROLE="replication", VAULT_REQUIRE_IAM_SERVER_ID="false").vault_role


def test_tables_from_a_parameter_are_read_once_through_the_reader() -> None:
    reads: list[tuple[str, str]] = []

    def reader(source: str, location: str) -> str:
        reads.append((source, location))
        return '{"sales.orders": {"batch_size": 9}}'

    env = {**BASE, "TABLES_SOURCE": "ssm", "TABLES_PARAMETER": "/aurora-batch/dev/tables"}
    s = settings_from_env(env, read_tables=reader)
    assert reads == [("ssm", "/aurora-batch/dev/tables")]
    assert [(t.ref.qualified, t.batch_size) for t in s.tables] == [("sales.orders", 9)]
    with pytest.raises(ConfigError, match="one place"):
        settings_from_env({**env, "TABLES": "[]"}, read_tables=reader)
