"""What an operator sees on a terminal (a pseudo-terminal here): the replicate bar's percent, ETA
and moving MB against the planner's estimate, its honesty once the estimate is passed, one bar
per table and one summary, and `status` with a late and a locked table. And what a pipe or
`--json` gets: no escape, no bar, no spinner."""

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
from aurora_batch.watermark import Watermark, WatermarkType

from tests.support.terminal import CLI, RUN_SECONDS, run_on_terminal, screen_lines

ROWS = 20_000
# "<table> <phase> <bar> <percent>% <rows>/<estimate> rows <MB> MB <rate> rows/s ETA <eta>", or
# without an estimate (or past it) "... - <rows> rows [(past the estimate of <n>)] ... ETA -".
BAR = re.compile(
    r"^(?P<table>\S+) (?P<phase>\w+)\s.*?(?:(?P<percent>\d+)%|-) (?P<rows>[\d,]+)(?:/(?P<estimate>[\d,]+))? rows"
    r"(?: \(past the estimate of (?P<past>[\d,]+)\))? (?P<mb>[\d.]+) MB (?P<rate>[\d,]+) rows/s ETA (?P<eta>\S+)$"
)
PHASE_LINE = re.compile(r"^(?P<table>\S+) (?P<phase>\w+)\s+(?P<seconds>\d+\.\d\d)s$")
# Parts of 5,000 rows from batches of 2,000: parts complete while the extract still runs.
MEASURED_DDL = """
CREATE TABLE {schema}.measured (id bigint PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL)
    WITH (autovacuum_enabled = false);
INSERT INTO {schema}.measured
SELECT g, md5(g::text) || md5((g * 7)::text), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 20000) AS g;
ANALYZE {schema}.measured;
"""
# After ANALYZE, 10,000 more rows: pg_class.reltuples still says 20,000.
GROWN_SINCE_ANALYZE = """
INSERT INTO {schema}.measured
SELECT g, md5(g::text), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(20001, 30000) AS g;
"""


@pytest.fixture
def measured(pg_tables: Callable[[str], str]) -> str:
    return f"{pg_tables(MEASURED_DDL)}.measured"


@pytest.fixture
def cli_env(stack_env: dict[str, str], measured: str, sf_schema: str) -> dict[str, str]:
    tables = {measured: {"target_schema": sf_schema, "batch_size": 2000}}
    return {**os.environ, **stack_env, "TABLES": json.dumps(tables), "PART_TARGET_ROWS": "5000"}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=RUN_SECONDS, check=False)


def bars(output: str, table: str) -> list[re.Match[str]]:
    return [found for line in screen_lines(output) if (found := BAR.match(line)) and found["table"] == table]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def assert_undecorated(text: str) -> None:
    assert "\x1b" not in text  # no colour, cursor move or line erase
    assert "\r" not in text  # no redraw in place
    assert "━" not in text  # no bar


def state_store(stack: Any, clock: Any = time.time) -> StateStore:
    client = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    return StateStore(stack.state_table, client, clock)


# --- the bar -------------------------------------------------------------------------------------


def test_the_bar_shows_percent_eta_and_the_bytes_staged_while_extracting(
    measured: str, cli_env: dict[str, str]
) -> None:
    code, output = run_on_terminal(["replicate", "--table", measured], cli_env)

    assert code == 0, output
    drawn = bars(output, measured)
    with_estimate = [bar for bar in drawn if bar["percent"] is not None]
    assert with_estimate, output
    assert {bar["estimate"] for bar in with_estimate} == {f"{ROWS:,}"}
    assert all(0 <= int(bar["percent"]) <= 100 for bar in with_estimate)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d|-:--:--", bar["eta"]) for bar in with_estimate)
    done = [bar for bar in with_estimate if bar["rows"] == f"{ROWS:,}"]
    assert done and {(bar["percent"], bar["eta"]) for bar in done} == {("100", "00:00:00")}
    # Bytes are counted as parts complete, not only when the upload is over.
    lines = screen_lines(output)
    summary_at = max(i for i, line in enumerate(lines) if line.startswith("table "))
    extracting = [bar for bar in drawn if bar["phase"] == "extract" and float(bar["mb"]) > 0]
    assert extracting, output
    assert lines.index(extracting[0].string) < summary_at
    # Then one line per phase with its time, in the order they ended.
    phases = [found["phase"] for line in lines if (found := PHASE_LINE.match(line)) and found["table"] == measured]
    assert {"extract", "upload", "copy", "validate", "cleanup"} <= set(phases)
    assert phases.index("extract") < phases.index("upload") < phases.index("copy") < phases.index("cleanup")


def test_past_the_estimate_the_bar_turns_to_a_spinner_and_never_shows_more_than_100_percent(
    measured: str, cli_env: dict[str, str], pg_tables: Callable[[str], str]
) -> None:
    pg_tables(GROWN_SINCE_ANALYZE)

    code, output = run_on_terminal(["replicate", "--table", measured], cli_env)

    assert code == 0, output
    drawn = bars(output, measured)
    assert all(int(bar["percent"]) <= 100 for bar in drawn if bar["percent"] is not None), output
    past = [bar for bar in drawn if number(bar["rows"]) > ROWS]
    assert past, output
    assert all(bar["percent"] is None and bar["estimate"] is None and bar["eta"] == "-" for bar in past)
    assert {bar["past"] for bar in past} == {f"{ROWS:,}"}
    assert "30,000" in {bar["rows"] for bar in past}


def test_one_bar_per_table_one_summary_and_exit_1_when_one_fails(
    measured: str, cli_env: dict[str, str], sf_schema: str
) -> None:
    missing = measured.replace(".measured", ".missing")
    env = {**cli_env, "TABLES": json.dumps({measured: {"target_schema": sf_schema}, missing: {}})}

    code, output = run_on_terminal(["replicate"], env)

    assert code == 1, output
    assert bars(output, measured) and bars(output, missing)
    lines = screen_lines(output)
    summary = lines[max(i for i, line in enumerate(lines) if line.startswith("table ")) :]
    assert [line.split()[:2] for line in summary[2:4]] == [[measured, "succeeded"], [missing, "failed"]]


# --- status --------------------------------------------------------------------------------------


@pytest.fixture
def watched(stack: Any, measured: str) -> Any:
    """Three tables in the state: fresh (watermark a minute old), late (two days old), locked."""
    schema = measured.split(".")[0]
    tables = {name: f"{schema}.{name}" for name in ("fresh", "late", "locked")}
    store = state_store(stack)
    now = time.time()
    for name, age in (("fresh", 60), ("late", 2 * 86400)):
        lease = store.acquire_lease(tables[name], f"20260101T000000Z-{secrets.token_hex(4)}", 900)
        value = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - age))
        store.advance_watermark(lease, Watermark(value, WatermarkType.TIMESTAMPTZ), "at")
        store.release_lease(lease)
    held = store.acquire_lease(tables["locked"], "20260101T000000Z-holder00", 900)
    yield tables
    store.release_lease(held)


def test_status_on_a_terminal_makes_a_late_and_a_locked_table_stand_out(
    watched: dict[str, str], cli_env: dict[str, str]
) -> None:
    schedule = f"{watched['fresh']}=cron(0 * * * ? *)"

    code, output = run_on_terminal(["status", "--schedule", schedule], cli_env)

    assert code == 0, output
    assert "\x1b[" in output  # styled on a terminal
    rows = {line.split()[1] if line.startswith("!") else line.split()[0]: line for line in screen_lines(output)}
    assert rows[watched["late"]].startswith("! ") and rows[watched["late"]].endswith("late")
    assert " 2d 00h " in rows[watched["late"]]
    assert rows[watched["locked"]].startswith("! ") and rows[watched["locked"]].endswith("locked")
    assert " held " in rows[watched["locked"]]
    fresh = rows[watched["fresh"]]
    assert not fresh.startswith("!")
    assert re.search(r" \d{4}-\d\d-\d\d \d\d:00:00Z \(in \d+m \d\ds\)", fresh), fresh


def test_status_json_is_the_same_data_as_a_document(watched: dict[str, str], cli_env: dict[str, str]) -> None:
    result = run(["status", "--json"], cli_env)

    assert result.returncode == 0, result.stderr
    assert_undecorated(result.stdout)
    statuses = {status["table"]: status for status in json.loads(result.stdout)["tables"]}
    assert statuses[watched["late"]]["attention"] == ["late"]
    assert statuses[watched["late"]]["lag_seconds"] > 2 * 86400 - 60
    assert statuses[watched["locked"]]["attention"] == ["locked"]
    assert statuses[watched["locked"]]["lease_owner"] == "20260101T000000Z-holder00"
    assert statuses[watched["fresh"]]["attention"] == []
    assert statuses[watched["fresh"]]["verify_drift"] is None


# --- pipes and --json ------------------------------------------------------------------------------


def test_nothing_decorative_reaches_a_pipe_or_json(
    watched: dict[str, str], measured: str, cli_env: dict[str, str]
) -> None:
    piped = run(["replicate", "--table", measured], cli_env)
    assert piped.returncode == 0, piped.stderr
    assert_undecorated(piped.stdout + piped.stderr)
    assert piped.stdout.splitlines()[2].split()[:2] == [measured, "succeeded"]

    for args in (["replicate", "--table", measured, "--json"], ["status", "--json"], ["watermark", "list", "--json"]):
        code, output = run_on_terminal(args, cli_env)
        text = output.replace("\r\n", "\n")  # the terminal's own line endings
        assert code == 0, output
        assert_undecorated(text)
        json.loads(text)

    for args in (["status"], ["watermark", "list"], ["watermark", "get", watched["late"]]):
        result = run(args, cli_env)
        assert result.returncode == 0, result.stderr
        assert_undecorated(result.stdout)
        assert watched["late"] in result.stdout
