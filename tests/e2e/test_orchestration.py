"""The state machine end to end: its generated definition, interpreted (tests/support/asl_runner.py),
calling the replication function in-process for every task, against the local stack. A run is
planned in slices (MAP_SLICES, EXTRACT_SLICE_MIN_BYTES), each slice read in its own snapshot, and
the load's catch-up closes the gap; the result is checked row by row against the source."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
from aurora_batch.config.events import MAX_SLICES
from aurora_batch.errors import ConfigError, LeaseLostError
from aurora_batch.orchestration.definition import render

from tests.integration.test_loading import Source
from tests.support.asl_runner import MAX_STATE_BYTES, Execution, Hook, StateMachine
from tests.support.lambda_fakes import FakeLambdaContext
from tests.support.runs import make_runtime

FUNCTION = FakeLambdaContext().invoked_function_arn
SLICES = 4
ROWS = 4000
COLUMNS = "id, note, amount, updated_at"
DDL = (
    "CREATE TABLE {t} (id bigint PRIMARY KEY, note text NOT NULL, amount numeric(12,2), "
    "updated_at timestamptz NOT NULL)"
)
FILL = (
    "INSERT INTO {t} SELECT g, repeat('n', 60) || g, g * 1.25, "
    "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(%s, %s) g"
)

NOW_FILL = FILL.replace("timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'", "now()")
# Many slices of a wide table: its observations grow with the columns, its parts with the rows.
MANY_SLICES = 16
WIDE_ROWS = 2000
WIDE_DDL = ", ".join(f"c{i:02d} numeric(12,2)" for i in range(60))
WIDE_FILL = ", ".join(f"g * {i}.25" for i in range(60)) + " FROM generate_series(1, %s) g"
# A slice's result in the state besides its manifest's key: field names and two counts.
SLICE_RESULT_BYTES = 80


def _table(stack: Any, schema: str, sf_schema: str, name: str, rows: int = ROWS) -> Source:
    source = Source(stack, schema, sf_schema, name)
    source.sql(DDL)
    source.sql(FILL, 1, rows)
    return source


def _source_rows(source: Source) -> dict[int, tuple[Any, ...]]:
    with source.stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT {COLUMNS} FROM "{source.schema}"."{source.table}"')
        return {row[0]: _normalized(row) for row in cursor.fetchall()}


def _target_rows(source: Source) -> dict[int, tuple[Any, ...]]:
    rows = source.target(f"SELECT {COLUMNS.upper()} FROM {{t}}")
    keyed = {int(row[0]): _normalized(row) for row in rows}
    assert len(keyed) == len(rows), "a key is in the target twice"
    return keyed


def _normalized(row: tuple[Any, ...]) -> tuple[Any, ...]:
    key, note, amount, updated_at = row
    if updated_at.tzinfo is None:
        updated_at = updated_at.replace(tzinfo=UTC)
    return int(key), note, Decimal(amount), updated_at.astimezone(UTC)


def assert_exact(source: Source) -> None:
    """Row count, key sum and every value by key."""
    expected, loaded = _source_rows(source), _target_rows(source)
    assert (len(loaded), sum(loaded)) == (len(expected), sum(expected))
    assert loaded == expected


def _state(source: Source) -> Any:
    return make_runtime().state.get(f"{source.schema}.{source.table}")


def _configure(monkeypatch: pytest.MonkeyPatch, handler: Any, *sources: Source, **options: Any) -> None:
    tables = {f"{s.schema}.{s.table}": {"target_schema": s.sf_schema, **options} for s in sources}
    monkeypatch.setenv("TABLES", json.dumps(tables))
    handler.runtime.cache_clear()


def _input(*sources: Source) -> dict[str, Any]:
    return {"tables": [{"schema_name": s.schema, "table_name": s.table} for s in sources]}


@pytest.fixture
def machine(replication_handler: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., StateMachine]:
    """The rendered definition, its tasks calling the replication handler in-process."""
    monkeypatch.setenv("MAP_SLICES", str(SLICES))
    monkeypatch.setenv("EXTRACT_SLICE_MIN_BYTES", "0")

    def invoke(payload: dict[str, Any]) -> Any:
        return replication_handler.lambda_handler(payload, FakeLambdaContext())

    def build(hook: Hook | None = None) -> StateMachine:
        definition = render(FUNCTION, table_concurrency=2, slice_concurrency=3)
        return StateMachine(definition, {FUNCTION: invoke}, hook)

    return build


def _succeeded(execution: Execution) -> None:
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)


@pytest.fixture
def orders(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> Source:
    return _table(stack, pg_schema, sf_schema, "orders")


@pytest.mark.parametrize("options", [{"mode": "full", "incremental_column": "updated_at"}, {"mode": "full"}])
def test_a_full_refresh_in_slices_equals_the_source_and_a_direct_run(
    machine: Callable[..., StateMachine],
    replication_handler: Any,
    orders: Source,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
) -> None:
    twin = _table(orders.stack, orders.schema, orders.sf_schema, "twin")
    _configure(monkeypatch, replication_handler, orders, twin, **options)

    execution = machine().execute(_input(orders))

    _succeeded(execution)
    sliced = len(execution.entered("ExtractSlice"))
    assert sliced == (SLICES if "incremental_column" in options else 1)  # slices need the catch-up's column
    assert execution.output["result"]["statuses"] == ["succeeded"]
    assert_exact(orders)
    direct = replication_handler.lambda_handler(
        {"schema_name": twin.schema, "table_name": twin.table}, FakeLambdaContext()
    )
    assert direct["status"] == "succeeded"
    state, direct_state = _state(orders), _state(twin)
    assert state.watermark == direct_state.watermark
    assert (state.lease_owner, state.checkpoint) == (None, None)
    assert orders.staged_keys() == []
    assert state.last_run is not None and state.last_run["status"] == "succeeded"
    # Loaded: the slices' rows and the catch-up's (rows read twice among them); the target holds each once.
    assert state.last_run["mode"] == "full" and state.last_run["rows_loaded"] >= ROWS
    assert state.last_run["rows_merged"] == ROWS


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_a_run_with_writes_between_plan_and_slices_loses_and_doubles_nothing(
    machine: Callable[..., StateMachine],
    replication_handler: Any,
    orders: Source,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    _configure(
        monkeypatch,
        replication_handler,
        orders,
        mode=mode,
        incremental_column="updated_at",
        lookback_seconds=0,
        row_digest=True,
    )
    _succeeded(machine().execute(_input(orders)))
    assert_exact(orders)
    first = _state(orders).watermark
    writes: list[str] = []

    def concurrently(state: str, document: Any) -> None:
        """Writes after the plan's snapshot: before the slices, and again between two of them."""
        if state == "ExtractSlices":
            orders.sql(NOW_FILL, 4001, 4200)
            orders.sql("UPDATE {t} SET note = 'before slices', updated_at = now() WHERE id % 97 = 0")
            writes.append(state)
        if state == "ExtractSlice" and document["slice"]["index"] == 1:
            # Updated rows move to other blocks: a slice read already or one still to come.
            orders.sql("UPDATE {t} SET amount = amount + 1, updated_at = now() WHERE id % 13 = 0")
            orders.sql(NOW_FILL, 4201, 4300)
            writes.append(state)

    execution = machine(concurrently).execute(_input(orders))

    _succeeded(execution)
    assert writes == ["ExtractSlices", "ExtractSlice"]
    assert len(execution.entered("ExtractSlice")) == SLICES
    # Rows were read twice (by a slice and the catch-up) and loaded once: keys changed or added since
    # the first run, and the row at its watermark (read again from the bound); every row in a full refresh.
    changed = {key for key in range(1, ROWS + 1) if key % 97 == 0 or key % 13 == 0} | {ROWS}
    report = _state(orders).last_run
    assert report is not None and report["rows_extracted"] > report["rows_merged"]
    assert report["rows_merged"] == (len(changed) + 300 if mode == "incremental" else ROWS + 300)
    assert_exact(orders)
    state = _state(orders)
    assert state.watermark is not None and first is not None and state.watermark > first
    assert (state.lease_owner, state.checkpoint) == (None, None)
    verified = replication_handler.lambda_handler(
        {"action": "verify", "schema_name": orders.schema, "table_name": "orders"}, FakeLambdaContext()
    )
    assert verified["status"] == "exact", verified


def test_tables_fan_out_in_one_execution_and_a_failing_table_releases_its_lease(
    machine: Callable[..., StateMachine], replication_handler: Any, orders: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = _table(orders.stack, orders.schema, orders.sf_schema, "customers", 1500)
    broken = _table(orders.stack, orders.schema, orders.sf_schema, "broken", 800)
    _configure(
        monkeypatch, replication_handler, orders, customers, broken, mode="incremental", incremental_column="updated_at"
    )

    def break_table(state: str, document: Any) -> None:
        """The table changes its columns while its slices run: its load fails."""
        if state == "Load" and document["plan"]["table"]["table_name"] == "broken":
            broken.sql("ALTER TABLE {t} ADD COLUMN extra int")

    execution = machine(break_table).execute(_input(orders, customers, broken))

    assert (execution.status, execution.error) == ("FAILED", "TablesFailed")
    assert [t.output["status"] for t in execution.entered("Commit")] == ["succeeded", "succeeded"]
    released = execution.entered("Release")
    assert len(released) == 1 and released[0].input["error"]["Error"] == "SourceSchemaError"
    assert released[0].output["release"] == {"status": "released"}
    assert [t.output["status"] for t in execution.entered("TableFailed")] == ["failed"]
    assert_exact(orders)
    assert_exact(customers)
    failed = _state(broken)
    assert (failed.lease_owner, failed.checkpoint, failed.watermark) == (None, None, None)
    assert failed.last_run is not None and failed.last_run["status"] == "failed"
    # The next execution takes the lease again and replicates the changed table.
    retried = machine().execute(_input(broken))
    _succeeded(retried)
    assert broken.target("SELECT COUNT(*) FROM {t}")[0][0] == 800


def test_a_forged_slice_or_a_wrong_run_is_refused_and_changes_nothing(
    machine: Callable[..., StateMachine], replication_handler: Any, orders: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, replication_handler, orders, mode="incremental", incremental_column="updated_at")
    refused: list[type[Exception]] = []

    def forge(state: str, document: Any) -> None:
        if state == "Load":
            forge_manifests(document)
        if state != "ExtractSlices":
            return
        plan = document["plan"]
        before = (_state(orders), orders.staged_keys())
        good = {"action": "extract_slice", "table": plan["table"], "run_id": plan["run_id"]}
        first = plan["slices"][0]
        forged_events = [
            {**good, "run_prefix": plan["run_prefix"], "slice": {**first, "end_block": (first["end_block"] or 0) + 1}},
            {**good, "run_prefix": plan["run_prefix"], "slice": {"index": SLICES, "first_block": 0, "end_block": 1}},
            {**good, "run_prefix": f"{plan['run_prefix']}x", "slice": first},
            {**good, "run_id": "20240101T000000Z-00000000", "run_prefix": plan["run_prefix"], "slice": first},
            {"action": "commit", "table": plan["table"], "run_id": plan["run_id"]},
            {"action": "commit", "table": plan["table"], "run_id": "20240101T000000Z-00000000"},
        ]
        for event in forged_events:
            with pytest.raises((ConfigError, LeaseLostError)) as raised:
                replication_handler.lambda_handler(event, FakeLambdaContext())
            refused.append(raised.type)
        after = (_state(orders), orders.staged_keys())
        assert after[0].checkpoint == before[0].checkpoint and after[0].watermark == before[0].watermark
        assert after[0].lease_owner == before[0].lease_owner == plan["run_id"]
        assert after[1] == before[1] == []

    def forge_manifests(document: Any) -> None:
        """Loads naming manifests other than each slice's own: refused before anything is loaded,
        even where the object named is a well-formed manifest."""
        plan, slices = document["plan"], document["slices"]
        s3 = _s3(orders)
        bucket = orders.stack.staging_bucket
        outside = f"{orders.stack.staging_prefix}/{orders.schema}.elsewhere/{plan['run_id']}/manifests/slice-0000.json"
        copied = s3.get_object(Bucket=bucket, Key=slices[0]["manifest"])["Body"].read()
        s3.put_object(Bucket=bucket, Key=outside, Body=copied)
        before = (_state(orders), orders.staged_keys())
        part = next(k for k in before[1] if "/slice-0000/" in k)
        load = {"action": "load", "table": plan["table"], "run_id": plan["run_id"], "run_prefix": plan["run_prefix"]}
        for first in (
            {**slices[0], "manifest": slices[1]["manifest"]},  # another slice's manifest
            {**slices[0], "manifest": outside},  # a copy of its own, outside the run
            {**slices[0], "manifest": part},  # another object of the run
            {**slices[0], "parts": slices[0]["parts"] + 1},  # counts its manifest does not list
        ):
            with pytest.raises(ConfigError) as raised:
                replication_handler.lambda_handler({**load, "slices": [first, *slices[1:]]}, FakeLambdaContext())
            assert raised.value.fields["field"] == "manifest"
            refused.append(raised.type)
        s3.delete_object(Bucket=bucket, Key=outside)
        after = (_state(orders), orders.staged_keys())
        assert after[0].checkpoint == before[0].checkpoint and after[0].watermark == before[0].watermark
        assert after[0].lease_owner == before[0].lease_owner == plan["run_id"]
        assert after[1] == before[1]

    execution = machine(forge).execute(_input(orders))

    assert refused[:6] == [ConfigError, ConfigError, ConfigError, LeaseLostError, ConfigError, LeaseLostError]
    assert refused[6:] == [ConfigError] * 4
    _succeeded(execution)
    assert_exact(orders)
    assert _state(orders).watermark is not None


def test_a_table_locked_by_another_run_is_skipped(
    machine: Callable[..., StateMachine], replication_handler: Any, orders: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, replication_handler, orders, mode="full")
    lease = make_runtime().state.acquire_lease(f"{orders.schema}.orders", "20240101T000000Z-00000001", 300)

    execution = machine().execute(_input(orders))

    _succeeded(execution)
    assert execution.output["result"]["statuses"] == ["locked"]
    assert execution.entered("ExtractSlices") == []
    assert _state(orders).lease_owner == lease.owner
    assert _state(orders).lease_expires_at == lease.expires_at  # a locked plan does not touch it


def _s3(source: Source) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=source.stack.moto_endpoint, region_name="us-east-1")


def _find(document: Any, key: str) -> Any:
    """The first value named `key` anywhere in a state's input."""
    if isinstance(document, dict):
        if key in document:
            return document[key]
        document = list(document.values())
    if isinstance(document, list):
        for item in document:
            found = _find(item, key)
            if found is not None:
                return found
    return None


def test_a_retried_load_replaces_the_catch_up_files_of_the_earlier_try(
    machine: Callable[..., StateMachine], replication_handler: Any, orders: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load that failed after its catch-up staged (a Lambda service error, then Retry) leaves
    catch-up files under the run's prefix; the retry stages the catch-up again and loads exactly."""
    _configure(monkeypatch, replication_handler, orders, mode="incremental", incremental_column="updated_at")
    left_over: list[str] = []

    def earlier_try(state: str, document: Any) -> None:
        if state == "Load":
            run_prefix = _find(document, "run_prefix")
            key = f"{orders.stack.staging_prefix}/{run_prefix}/catch-up/part-00000.parquet"
            _s3(orders).put_object(Bucket=orders.stack.staging_bucket, Key=key, Body=b"from the earlier try")
            left_over.append(key)

    execution = machine(earlier_try).execute(_input(orders))

    _succeeded(execution)
    assert len(left_over) == 1
    assert left_over[0] not in orders.staged_keys()
    assert_exact(orders)


def test_the_state_carries_manifest_keys_only_however_many_parts_and_columns(
    machine: Callable[..., StateMachine], replication_handler: Any, orders: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A narrow table in one part per slice and a wide one in many: what Load receives per slice is
    its manifest's key and a few fixed fields; the parts and observations stay in the manifests."""
    wide = Source(orders.stack, orders.schema, orders.sf_schema, "wide")
    wide.sql(f"CREATE TABLE {{t}} (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, {WIDE_DDL})")
    wide.sql(f"INSERT INTO {{t}} SELECT g, timestamptz '2024-01-01' + g * interval '1 second', {WIDE_FILL}", WIDE_ROWS)
    monkeypatch.setenv("MAP_SLICES", str(MANY_SLICES))
    monkeypatch.setenv("PART_TARGET_ROWS", "20")
    options = {"mode": "incremental", "incremental_column": "updated_at"}
    tables = {f"{s.schema}.{s.table}": {"target_schema": s.sf_schema, **options} for s in (orders, wide)}
    tables[f"{wide.schema}.wide"]["batch_size"] = 20  # parts close on a batch: many parts per slice
    monkeypatch.setenv("TABLES", json.dumps(tables))
    replication_handler.runtime.cache_clear()
    received: dict[str, list[dict[str, Any]]] = {}
    manifests: dict[str, list[dict[str, Any]]] = {}

    def record(state: str, document: Any) -> None:
        if state == "Load":
            name, s3 = document["plan"]["table"]["table_name"], _s3(orders)
            received[name] = document["slices"]
            manifests[name] = [
                json.loads(s3.get_object(Bucket=orders.stack.staging_bucket, Key=r["manifest"])["Body"].read())
                for r in document["slices"]
            ]

    execution = machine(record).execute(_input(orders, wide))

    _succeeded(execution)
    assert_exact(orders)
    assert wide.target("SELECT COUNT(*) FROM {t}")[0][0] == WIDE_ROWS
    for name in ("orders", "wide"):
        assert len(received[name]) == MANY_SLICES
        for result in received[name]:
            assert len(json.dumps(result)) <= len(result["manifest"]) + SLICE_RESULT_BYTES
    assert all(len(m["parts"]) == 1 for m in manifests["orders"])
    parts = [len(m["parts"]) for m in manifests["wide"]]
    assert parts == [r["parts"] for r in received["wide"]] and min(parts) >= 3
    # What the state would have carried: the wide table's manifests, many times the results' size.
    assert len(json.dumps(manifests["wide"])) > 20 * len(json.dumps(received["wide"]))
    longest = max(len(r["manifest"]) for r in received["wide"])
    assert MAX_SLICES * (longest + SLICE_RESULT_BYTES) < MAX_STATE_BYTES // 2
    assert orders.staged_keys() == [] and wide.staged_keys() == []  # the commit deleted the manifests too
