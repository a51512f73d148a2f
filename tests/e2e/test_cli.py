"""The `aurora-batch` command as an operator runs it: `replicate` on a terminal (a pseudo-terminal
here) draws a progress bar and ends with a summary table; `--json` prints the report; each
documented exit code; `watermark` and `cleanup`, which need no Vault or Snowflake settings.
tests/e2e/test_cli_terminal.py covers the bar against the estimate, `status` and the pipes."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aurora_batch.adapters.state_store import StateStore

from tests.support.terminal import CLI, RUN_SECONDS, run_on_terminal, screen_lines

ROWS = 20_000
WATERMARK = "2024-03-01T00:00:00+00:00"
# One redraw of a table's bar: "<table> <phase> <bar> <percent> <rows> rows <MB> MB <rate> rows/s ETA <eta>".
BAR = re.compile(
    r"^(?P<table>\S+) (?P<phase>\w+)\s.*?(?:(?P<percent>\d+)%|-) (?P<rows>[\d,]+)(?:/[\d,]+)? rows"
    r".*? (?P<mb>[\d.]+) MB (?P<rate>[\d,]+) rows/s ETA (?P<eta>\S+)$"
)

EVENTS_DDL = """
CREATE TABLE {schema}.events (id bigint PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL);
INSERT INTO {schema}.events
SELECT g, 'kind ' || (g % 10), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 20000) AS g;
"""


@pytest.fixture
def events(pg_tables: Callable[[str], str]) -> str:
    return f"{pg_tables(EVENTS_DDL)}.events"


@pytest.fixture
def cli_env(stack_env: dict[str, str], events: str, sf_schema: str) -> dict[str, str]:
    return {**os.environ, **stack_env, "TABLES": json.dumps({events: {"target_schema": sf_schema}})}


@pytest.fixture
def ops_env(stack_env: dict[str, str]) -> dict[str, str]:
    """What the cleanup and admin functions get: no Vault or Snowflake settings."""
    dropped = {"VAULT_ADDR", "VAULT_TOKEN", "SNOWFLAKE_STAGE", "SNOWFLAKE_ENDPOINT", "TABLES"}
    return {name: value for name, value in {**os.environ, **stack_env}.items() if name not in dropped}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=RUN_SECONDS, check=False)


def state_store(stack: Any, clock: Any = time.time) -> StateStore:
    client = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    return StateStore(stack.state_table, client, clock)


# --- replicate ---------------------------------------------------------------------------------


def test_replicate_on_a_terminal_draws_a_progress_bar_and_a_summary_table(events: str, cli_env: dict[str, str]) -> None:
    code, output = run_on_terminal(["replicate", "--table", events], cli_env)

    assert code == 0, output
    redraws = [found for line in screen_lines(output) if (found := BAR.match(line))]
    assert len(redraws) >= 3, output
    assert {m["table"] for m in redraws} == {events}
    phases = [m["phase"] for m in redraws]
    assert {"extract", "copy"} <= set(phases)
    assert phases.index("extract") < phases.index("copy")
    assert f"{ROWS:,}" in {m["rows"] for m in redraws}  # the count once extraction is done
    lines = screen_lines(output)
    summary = lines[max(i for i, line in enumerate(lines) if line.startswith("table ")) :]
    assert summary[0].split() == ["table", "status", "rows", "MB", "staged", "seconds", "rows/s"]
    assert set(summary[1].strip()) == {"-"}
    assert summary[2].split()[:3] == [events, "succeeded", f"{ROWS:,}"]


def test_replicate_json_prints_the_run_report(events: str, cli_env: dict[str, str]) -> None:
    result = run(["replicate", "--table", events, "--json"], cli_env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["table"], report["status"], report["mode"]) == (events, "succeeded", "full")
    assert report["rows_extracted"] == report["rows_loaded"] == ROWS
    assert report["bytes_staged"] > 0
    assert "\r" not in result.stderr  # no bar without a terminal


def test_replicate_exit_code_1_when_the_run_fails(events: str, cli_env: dict[str, str]) -> None:
    missing = events.replace(".events", ".no_such_table")
    result = run(["replicate", "--table", missing], {**cli_env, "ALLOWED_TABLES": missing})

    assert result.returncode == 1
    reasons = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(reasons) == 1
    assert missing in reasons[0]


@pytest.mark.parametrize(
    ("args", "tables", "message"),
    [
        (["--mode", "bogus"], None, "invalid choice: 'bogus'"),
        ([], {"bogus_option": 1}, "unknown setting"),
        (["--mode", "incremental"], {}, "incremental mode needs incremental_column"),
    ],
)
def test_replicate_exit_code_2_for_bad_options_and_nothing_is_changed(
    stack: Any, events: str, cli_env: dict[str, str], args: list[str], tables: Any, message: str
) -> None:
    env = dict(cli_env)
    if tables is not None:
        env["TABLES"] = json.dumps({events: tables})

    result = run(["replicate", "--table", events, *args], env)

    assert result.returncode == 2
    assert message in result.stderr
    assert state_store(stack).get(events).version == 0


def test_replicate_exit_code_3_when_another_run_holds_the_table(
    stack: Any, events: str, cli_env: dict[str, str]
) -> None:
    store = state_store(stack)
    lease = store.acquire_lease(events, "20260101T000000Z-holder00", 900)
    try:
        result = run(["replicate", "--table", events], cli_env)
    finally:
        store.release_lease(lease)

    assert result.returncode == 3
    assert any(line.startswith("locked:") and events in line for line in result.stderr.splitlines())
    assert store.get(events).last_run is None


# --- watermark and cleanup ------------------------------------------------------------------------


def watermark(ops_env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    result = run(["watermark", *args, "--json"], ops_env)
    return result.returncode, json.loads(result.stdout) if result.returncode == 0 else None, result.stderr


def test_watermark_commands(stack: Any, ops_env: dict[str, str]) -> None:
    table = f"w{secrets.token_hex(4)}.orders"
    reason = ("--reason", "backfill after the incident")

    code, changed, _ = watermark(
        ops_env, "set", table, WATERMARK, "--type", "timestamptz", "--column", "updated_at", *reason
    )
    assert code == 0
    assert changed["new"]["watermark"] == WATERMARK
    sts = boto3.client("sts", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    caller = sts.get_caller_identity()["Arn"]
    assert changed["actor"] == caller  # the STS caller identity, not a name the operator types

    code, got, _ = watermark(ops_env, "get", table)
    assert code == 0
    assert got["state"]["watermark"] == WATERMARK
    assert (got["audit"][0]["action"], got["audit"][0]["reason"]) == ("set", reason[1])

    code, listed, _ = watermark(ops_env, "list")
    assert code == 0
    assert table in {state["table"] for state in listed["tables"]}

    code, _, stderr = watermark(ops_env, "set", table, "2999-01-01T00:00:00+00:00", *reason)
    assert code == 2
    assert "future" in stderr

    code, dry, _ = watermark(ops_env, "reset", table, *reason, "--dry-run")
    assert (code, dry["dry_run"], dry["audit_id"]) == (0, True, None)
    assert state_store(stack).get(table).watermark is not None

    code, _, _ = watermark(ops_env, "reset", table, *reason)
    assert code == 0
    assert state_store(stack).get(table).full_reload_requested is True

    state_store(stack, clock=lambda: time.time() - 3600).acquire_lease(table, "20260101T000000Z-dead0000", 900)
    code, unlocked, _ = watermark(ops_env, "unlock", table, *reason)
    assert code == 0
    assert unlocked["old"]["lease_owner"] == "20260101T000000Z-dead0000"

    code, _, stderr = watermark(ops_env, "reset", table)
    assert code == 2
    assert "--reason" in stderr

    _, got, _ = watermark(ops_env, "get", table)
    assert [record["action"] for record in got["audit"]] == ["unlock", "reset", "set"]
    assert {record["actor"] for record in got["audit"]} == {caller}


def test_watermark_changes_are_audited_as_the_credentials_sts_names(stack: Any, ops_env: dict[str, str]) -> None:
    iam = boto3.client("iam", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    user = f"operator-{secrets.token_hex(4)}"
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = {**ops_env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    as_user.pop("AWS_SESSION_TOKEN", None)
    as_user.pop("AWS_PROFILE", None)
    table = f"w{secrets.token_hex(4)}.orders"

    code, changed, _ = watermark(as_user, "reset", table, "--reason", "rebuilt by hand", "--force")

    assert code == 0
    assert changed["actor"] == arn
    assert state_store(stack).audit_log(table)[0]["actor"] == arn


def test_cleanup_dry_run_reports_and_deletes_nothing(stack: Any, ops_env: dict[str, str]) -> None:
    prefix = f"cli-cleanup-{secrets.token_hex(4)}"
    s3 = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    keys = [f"{prefix}/public.orders/20250101T000000Z-dead0000/part-0000{i}.parquet" for i in range(3)]
    for key in keys:
        s3.put_object(Bucket=stack.staging_bucket, Key=key, Body=b"12345678")
    env = {**ops_env, "STAGING_PREFIX": prefix}

    result = run(["cleanup", "--dry-run", "--older-than-hours", "0", "--json"], env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["objects_deleted"], report["bytes_deleted"]) == (True, 3, 24)
    listed = s3.list_objects_v2(Bucket=stack.staging_bucket, Prefix=f"{prefix}/")
    assert sorted(item["Key"] for item in listed["Contents"]) == keys

    result = run(["cleanup", "--older-than-hours", "0", "--json"], env)
    assert json.loads(result.stdout)["objects_deleted"] == 3
    assert s3.list_objects_v2(Bucket=stack.staging_bucket, Prefix=f"{prefix}/").get("KeyCount") == 0
