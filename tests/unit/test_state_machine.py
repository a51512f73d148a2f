"""The state machine's definition: generated in one place, valid ASL, and every task's payload is
exactly what the replication function's event contract accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aurora_batch.config.events import (
    MAX_KEY_LENGTH,
    MAX_PARTS_PER_SLICE,
    MAX_SLICES,
    OrchestrationEvent,
    orchestration_event,
)
from aurora_batch.errors import ConfigError
from aurora_batch.orchestration.definition import render, render_template

from tests.support.asl_runner import MAX_STATE_BYTES, StateMachine
from tools.render_state_machine import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:f:live"
RUN = {
    "table": {"schema_name": "public", "table_name": "orders"},
    "run_id": "run-1",
    "run_prefix": "public.orders/run-1",
    "slices": [{"index": 0, "first_block": None, "end_block": 10}, {"index": 1, "first_block": 10, "end_block": None}],
    "status": "planned",
}
# A slice's result besides its manifest's key: the field names and two counts of at most 13 digits.
PER_SLICE_FIELDS_BYTES = 80


def _states() -> dict[str, Any]:
    filled = render(FUNCTION, table_concurrency=2, slice_concurrency=3)
    states: dict[str, Any] = filled["States"]["Tables"]["ItemProcessor"]["States"]
    return states


def _path(document: Any, path: str) -> Any:
    """A JSONPath of the simple form the definition uses ($, $.a.b)."""
    value = document
    for name in path.removeprefix("$").strip(".").split("."):
        if name:
            value = value[name]
    return value


def _payload(parameters: dict[str, Any], state: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for key, value in parameters.items():
        if key.endswith(".$"):
            source = context if value.startswith("$$") else state
            payload[key[:-2]] = _path(source, value.removeprefix("$"))
        elif isinstance(value, dict):
            payload[key] = _payload(value, state, context)
        else:
            payload[key] = value
    return payload


def test_the_committed_template_is_generated() -> None:
    assert TEMPLATE.read_text() == render_template()


def test_every_task_invokes_the_function_and_numbers_are_filled_in() -> None:
    states = _states()
    assert states["ExtractSlices"]["MaxConcurrency"] == 3
    tasks = [s for s in states.values() if s["Type"] == "Task"]
    tasks.append(states["ExtractSlices"]["ItemProcessor"]["States"]["ExtractSlice"])
    assert {t["Parameters"]["FunctionName"] for t in tasks} == {FUNCTION}
    assert all(t["Catch"] for t in tasks if t is not tasks[-1])


def test_failures_after_plan_release_the_lease() -> None:
    states = _states()
    for name in ("ExtractSlices", "Load", "Commit"):
        assert states[name]["Catch"][0]["Next"] == "Release"
    assert states["Release"]["Next"] == "TableFailed"


def test_payloads_the_definition_passes_match_the_event_contract() -> None:
    states = _states()
    table_input = {"table": {"schema_name": "public", "table_name": "orders"}}
    plan = _payload(states["Plan"]["Parameters"]["Payload"], table_input, {})
    assert orchestration_event(plan).action == "plan"
    after_plan = {**table_input, "plan": RUN}
    item = _payload(states["ExtractSlices"]["ItemSelector"], after_plan, {"Map": {"Item": {"Value": RUN["slices"][1]}}})
    task = states["ExtractSlices"]["ItemProcessor"]["States"]["ExtractSlice"]
    assert task["Parameters"]["Payload.$"] == "$"
    parsed = orchestration_event(item)
    assert parsed.slice is not None and parsed.slice.first_block == 10
    # The slice's answer, through its ResultSelector, is what Load passes on.
    manifest = "staging/public.orders/run-1/manifests/slice-0001.json"
    answer = {"Payload": {"slice": 1, "manifest": manifest, "parts": 3, "rows": 7}, "StatusCode": 200}
    selected = _payload(task["ResultSelector"], answer, {})
    assert selected == answer["Payload"]
    loaded = {**after_plan, "slices": [selected]}
    load = orchestration_event(_payload(states["Load"]["Parameters"]["Payload"], loaded, {}))
    assert load.slices is not None and (load.slices[0].manifest, load.slices[0].parts) == (manifest, 3)
    commit = orchestration_event(_payload(states["Commit"]["Parameters"]["Payload"], after_plan, {}))
    assert commit.action == "commit" and commit.run_id == "run-1"
    failed = {**after_plan, "error": {"Error": "RunFailedError", "Cause": "{}"}}
    release = orchestration_event(_payload(states["Release"]["Parameters"]["Payload"], failed, {}))
    assert release.error is not None and release.error.Error == "RunFailedError"


@pytest.mark.parametrize(
    "event",
    [
        {"action": "plan", "table": "public.orders", "run_id": "x"},
        {"action": "commit", "table": "public.orders"},
        {"action": "extract_slice", "table": "public.orders", "run_id": "r", "run_prefix": "p"},
        {"action": "plan", "table": "public.orders", "where": "true"},
        {"action": "commit", "table": "public.orders", "run_id": "r", "lookback_seconds": 0},
        {"action": "drop", "table": "public.orders"},
    ],
)
def test_an_action_outside_its_contract_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        orchestration_event(event)


@pytest.mark.parametrize(
    "result",
    [
        {"slice": 0, "manifest": "m", "parts": 1, "rows": 1, "observed": {}},
        {"slice": 0, "manifest": "m", "parts": [[0, "k", "p", 1, 2]], "rows": 1},
        {"slice": 0, "manifest": "m", "parts": -1, "rows": 1},
        {"slice": 0, "manifest": "m", "parts": 1, "rows": -1},
        {"slice": 0, "manifest": "m", "parts": "1", "rows": 1},
        {"slice": 0, "manifest": "m", "parts": 1, "rows": True},
        {"slice": 0, "manifest": "m", "parts": MAX_PARTS_PER_SLICE + 1, "rows": 1},
        {"slice": 0, "manifest": "", "parts": 1, "rows": 1},
        {"slice": 0, "manifest": "k" * (MAX_KEY_LENGTH + 1), "parts": 1, "rows": 1},
        {"slice": 0, "manifest": 7, "parts": 1, "rows": 1},
        {"slice": 0, "parts": 1, "rows": 1},
        {"slice": MAX_SLICES, "manifest": "m", "parts": 1, "rows": 1},
    ],
)
def test_a_slice_result_outside_its_shape_is_refused_naming_the_field(result: dict[str, Any]) -> None:
    event = {"action": "load", "table": "public.orders", "run_id": "r", "run_prefix": "p", "slices": [result]}
    with pytest.raises(ConfigError) as refused:
        orchestration_event(event)
    assert "slices" in str(refused.value)


def test_the_slices_load_receives_stay_small_however_many_parts_and_columns() -> None:
    """MAX_SLICES slices, each claiming the most parts: Load's input is a fixed size per slice (the
    parts and observations stay in the manifests), far below the 256 KiB a state may hold."""
    run_id = "20240101T000000Z-0123abcd"
    run_prefix = f"public.orders/{run_id}"
    table = {"schema_name": "public", "table_name": "orders"}
    loads: list[dict[str, Any]] = []

    def function(payload: dict[str, Any]) -> dict[str, Any]:
        action = payload["action"]
        if action == "plan":
            slices = [{"index": i, "first_block": i, "end_block": i + 1} for i in range(MAX_SLICES)]
            return {"status": "planned", "table": table, "run_id": run_id, "run_prefix": run_prefix, "slices": slices}
        if action == "extract_slice":
            index = payload["slice"]["index"]
            key = f"staging/{run_prefix}/manifests/slice-{index:04d}.json"
            return {"slice": index, "manifest": key, "parts": MAX_PARTS_PER_SLICE, "rows": 10**12}
        if action == "load":
            loads.append(payload)
            return {"status": "loaded"}
        return {"status": "succeeded", "table": table, "run_id": run_id}

    definition = render(FUNCTION, table_concurrency=2, slice_concurrency=3)
    execution = StateMachine(definition, {FUNCTION: function}).execute({"tables": [table]})

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    (load,) = loads
    assert orchestration_event(load).slices is not None
    received = len(json.dumps(load["slices"]).encode())
    key_bytes = len(f"staging/{run_prefix}/manifests/slice-0000.json")
    assert received <= MAX_SLICES * (key_bytes + PER_SLICE_FIELDS_BYTES)
    assert received < MAX_STATE_BYTES // 4


def test_only_the_internal_actions_exist() -> None:
    assert OrchestrationEvent.model_fields["action"].annotation is not None
    for action in ("plan", "extract_slice", "load", "commit", "release"):
        assert action in str(OrchestrationEvent.model_fields["action"].annotation)


@pytest.mark.skipif(
    shutil.which("npm") is None or shutil.which("node") is None, reason="node and npm are not installed"
)
def test_asl_validator_accepts_the_definition_and_rejects_a_broken_one(tmp_path: Path) -> None:
    validator = ROOT / "node_modules/.bin/asl-validator"
    if not validator.exists():
        subprocess.run(["make", "-s", "asl-validate"], cwd=ROOT, check=True, capture_output=True, timeout=300)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(render(FUNCTION, table_concurrency=2, slice_concurrency=3)))
    assert subprocess.run([str(validator), "--json-path", str(good)], capture_output=True, timeout=60).returncode == 0
    broken = render(FUNCTION, table_concurrency=2, slice_concurrency=3)
    broken["States"]["AnyTableFailed"]["Default"] = "Nowhere"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    assert subprocess.run([str(validator), "--json-path", str(bad)], capture_output=True, timeout=60).returncode != 0
