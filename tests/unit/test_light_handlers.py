"""The cleanup and admin functions ship without pyarrow, the Snowflake connector, psycopg2 and
hvac (services/*/requirements.txt): importing their handlers must not need any of them, and
their configuration must not ask for Vault or Snowflake settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aurora_batch.config import ops_settings_from_env
from aurora_batch.errors import ConfigError
from aurora_batch.wiring_light import OpsRuntime

SERVICES = Path(__file__).resolve().parents[2] / "services"
HEAVY = ("pyarrow", "snowflake", "psycopg2", "hvac", "adbc_driver_manager", "adbc_driver_postgresql")
IMPORT_HANDLER = (
    "import json, sys\n"
    "import handler\n"
    "assert callable(handler.lambda_handler)\n"
    "print(json.dumps(sorted({name.partition('.')[0] for name in sys.modules})))\n"
)


@pytest.mark.parametrize("function", ["s3_cleanup", "watermark_admin"])
def test_the_handler_imports_no_heavy_package(function: str) -> None:
    imported = subprocess.run(
        [sys.executable, "-c", IMPORT_HANDLER],
        cwd=SERVICES / function,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    modules = set(json.loads(imported.stdout))
    assert "aurora_batch" in modules
    assert modules.isdisjoint(HEAVY)


def test_the_admin_environment_needs_only_the_state_table() -> None:
    settings = ops_settings_from_env({"STATE_TABLE": "aurora-batch-dev-state", "AWS_REGION": "eu-west-1"})

    assert (settings.state_table, settings.aws_region, settings.staging_bucket) == (
        "aurora-batch-dev-state",
        "eu-west-1",
        None,
    )
    with pytest.raises(ConfigError) as raised:
        OpsRuntime(settings).staging()
    assert raised.value.fields["field"] == "staging_bucket"


def test_variables_of_the_replication_function_are_ignored_not_refused() -> None:
    settings = ops_settings_from_env(
        {"STATE_TABLE": "state", "STAGING_BUCKET": "bucket", "VAULT_ADDR": "https://vault", "TABLES": "[]"}
    )

    assert settings.staging_bucket == "bucket"


def test_a_missing_state_table_names_the_field() -> None:
    with pytest.raises(ConfigError) as raised:
        ops_settings_from_env({"STAGING_BUCKET": "bucket"})

    assert raised.value.fields["field"] == "state_table"
