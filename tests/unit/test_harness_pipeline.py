"""harness/pipeline.yaml: its structure (the seed's inputs, the six stages in order, rollback
on failure, secrets only as Harness references), and what its Lambda scripts do, run under
bash against a stand-in `aws` command that records each call and answers as AWS would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools import ci_lint

PIPELINE_PATH = ci_lint.HARNESS_PIPELINE
SEED_INPUTS = (
    "terraform_cloud_org",
    "terraform_cloud_workspace",
    "artifactory_url",
    "artifactory_repo",
    "package_name",
    "aws_region",
)
STAGES = (
    "fetch_artifact",
    "terraform_cloud_run",
    "update_function_code",
    "move_live_alias",
    "smoke_test",
    "rollback",
)
SEED_SECRETS = {"artifactory_user", "artifactory_password", "terraform_cloud_token"}
FUNCTIONS = {"replication": "replication", "s3_cleanup": "s3-cleanup", "watermark_admin": "watermark-admin"}
PREFIX = "aurora-batch-test"
IDENTIFIER = re.compile(r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$")


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    document = ci_lint.load_yaml(PIPELINE_PATH)
    return dict(document["pipeline"])


def stages(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["stage"]["identifier"]: entry["stage"] for entry in pipeline["stages"]}


def step(pipeline: dict[str, Any], stage_id: str, step_id: str) -> dict[str, Any]:
    for entry in stages(pipeline)[stage_id]["spec"]["execution"]["steps"]:
        if entry["step"]["identifier"] == step_id:
            return dict(entry["step"])
    raise KeyError(f"{stage_id}.{step_id}")


def script(pipeline: dict[str, Any], stage_id: str, step_id: str) -> str:
    return str(step(pipeline, stage_id, step_id)["spec"]["source"]["spec"]["script"])


# --- structure ---------------------------------------------------------------------------


def test_seed_inputs_are_runtime_inputs(pipeline: dict[str, Any]) -> None:
    variables = {variable["name"]: variable for variable in pipeline["variables"]}
    for name in SEED_INPUTS:
        assert variables[name]["type"] == "String"
        assert variables[name]["value"] == "<+input>"
        assert variables[name]["required"] is True


def test_every_variable_is_a_runtime_input(pipeline: dict[str, Any]) -> None:
    assert [v["name"] for v in pipeline["variables"] if not str(v["value"]).startswith("<+input>")] == []


def test_stages_come_in_the_issues_order(pipeline: dict[str, Any]) -> None:
    assert tuple(stages(pipeline)) == STAGES


def test_identifiers_are_valid_and_unique(pipeline: dict[str, Any]) -> None:
    step_ids = [step_id for _, step_id, _ in ci_lint.harness_steps({"pipeline": pipeline})]
    identifiers = [pipeline["identifier"], *stages(pipeline), *step_ids]
    assert [i for i in identifiers if not IDENTIFIER.match(i)] == []
    assert len(set(step_ids)) == len(step_ids)


def test_terraform_cloud_run_is_optional(pipeline: dict[str, Any]) -> None:
    when = stages(pipeline)["terraform_cloud_run"]["when"]
    assert when == {"pipelineStatus": "Success", "condition": '<+pipeline.variables.run_terraform> == "true"'}


def test_failures_mark_the_pipeline_failed_so_rollback_runs(pipeline: dict[str, Any]) -> None:
    by_id = stages(pipeline)
    for stage_id in STAGES[:-1]:
        assert by_id[stage_id]["when"]["pipelineStatus"] == "Success", stage_id
        strategies = by_id[stage_id]["failureStrategies"]
        assert strategies == [{"onFailure": {"errors": ["AllErrors"], "action": {"type": "MarkAsFailure"}}}]
    assert by_id["rollback"]["when"] == {"pipelineStatus": "Failure"}


def test_rollback_restores_the_versions_recorded_before_the_update(pipeline: dict[str, Any]) -> None:
    environment = {
        variable["name"]: variable["value"]
        for variable in step(pipeline, "rollback", "restore_live_alias")["spec"]["environmentVariables"]
    }
    record = "<+pipeline.stages.update_function_code.spec.execution.steps.record_live_versions"
    for function in FUNCTIONS:
        name = f"{function.upper()}_PREVIOUS_VERSION"
        assert environment[name] == f"{record}.output.outputVariables.{name}>"


def test_every_expression_refers_to_something_declared(pipeline: dict[str, Any]) -> None:
    text = PIPELINE_PATH.read_text()
    variables = {variable["name"] for variable in pipeline["variables"]}
    outputs = {
        (stage_id, step_id, output["name"])
        for stage_id, step_id, found in ci_lint.harness_steps({"pipeline": pipeline})
        for output in found["spec"].get("outputVariables", [])
    }
    used_variables = set(re.findall(r"<\+pipeline\.variables\.(\w+)>", text))
    used_outputs = set(
        re.findall(
            r"<\+pipeline\.stages\.(\w+)\.spec\.execution\.steps\.(\w+)\.output\.outputVariables\.(\w+)>",
            text,
        )
    )
    assert used_variables <= variables
    assert used_outputs
    assert used_outputs <= outputs
    # Every output is consumed by a later stage than the one that produces it.
    order = {stage_id: index for index, stage_id in enumerate(STAGES)}
    for stage_id, step_id, variable in used_outputs:
        consumers = [
            consumer
            for consumer, _, found in ci_lint.harness_steps({"pipeline": pipeline})
            if any(
                f".{stage_id}.spec.execution.steps.{step_id}.output.outputVariables.{variable}>" in str(v["value"])
                for v in found["spec"].get("environmentVariables", [])
            )
        ]
        assert min(order[consumer] for consumer in consumers) > order[stage_id]


def test_every_declared_output_is_exported_by_its_script(pipeline: dict[str, Any]) -> None:
    for stage_id, step_id, found in ci_lint.harness_steps({"pipeline": pipeline}):
        body = script(pipeline, stage_id, step_id)
        for output in found["spec"].get("outputVariables", []):
            exported = re.search(rf"^\s*export\b[^\n]*\b{output['value']}\b", body, re.MULTILINE)
            assert exported, (stage_id, step_id, output["name"])


def test_secrets_are_harness_references_never_inline(pipeline: dict[str, Any]) -> None:
    text = PIPELINE_PATH.read_text()
    assert set(re.findall(r'<\+secrets\.getValue\("([^"]+)"\)>', text)) == SEED_SECRETS
    assert ci_lint.harness_problems(PIPELINE_PATH) == []
    for _, _, found in ci_lint.harness_steps({"pipeline": pipeline}):
        for variable in found["spec"].get("environmentVariables", []):
            if ci_lint.SECRET_NAME.search(variable["name"]):
                assert ci_lint.HARNESS_SECRET_REFERENCE.match(variable["value"]), variable["name"]
        body = found["spec"]["source"]["spec"]["script"]
        assert "secrets." not in body  # secrets reach scripts through their environment only


def test_ci_lint_flags_an_inline_secret_and_xtrace(tmp_path: Path) -> None:
    text = PIPELINE_PATH.read_text()
    leaky = tmp_path / "pipeline.yaml"
    leaky.write_text(
        text.replace('<+secrets.getValue("artifactory_password")>', "hunter2").replace(
            "set -uo pipefail", "set -xuo pipefail"
        )
    )
    problems = ci_lint.harness_problems(leaky)
    assert any("ARTIFACTORY_PASSWORD must be" in problem for problem in problems)
    assert any("xtrace" in problem for problem in problems)


def test_scripts_pass_shellcheck(pipeline: dict[str, Any]) -> None:
    scripts = ci_lint.harness_scripts(PIPELINE_PATH, {"pipeline": pipeline})
    assert len(scripts) == sum(1 for _ in ci_lint.harness_steps({"pipeline": pipeline}))
    assert ci_lint.shellcheck_problems(scripts) == []


# --- behaviour of the Lambda scripts -----------------------------------------------------

STUB = """\
#!{python}
# Stand-in for the AWS CLI: records its arguments, answers from AWS_STUB_RESPONSES.
import json, os, sys
arguments = sys.argv[1:]
with open(os.environ["AWS_STUB_LOG"], "a") as log:
    log.write(json.dumps(arguments) + "\\n")
responses = json.loads(os.environ.get("AWS_STUB_RESPONSES", "{{}}"))
function = arguments[arguments.index("--function-name") + 1] if "--function-name" in arguments else ""
operation = " ".join(arguments[:2])
response = responses.get(f"{{operation}} {{function}}", responses.get(operation, {{}}))
if operation == "lambda invoke":
    with open(arguments[-1], "w") as payload:
        payload.write(response.get("payload", "{{}}"))
sys.stdout.write(response.get("stdout", ""))
sys.exit(response.get("exit", 0))
"""


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def calls_to(self, operation: str) -> list[list[str]]:
        return [call for call in self.calls if " ".join(call[:2]) == operation]


def run_script(
    tmp_path: Path, body: str, environment: dict[str, str], responses: dict[str, Any] | None = None
) -> Outcome:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "aws"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.write_text("")
    completed = subprocess.run(
        ["bash", "-c", body],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "AWS_STUB_LOG": str(log),
            "AWS_STUB_RESPONSES": json.dumps(responses or {}),
            "FUNCTION_NAME_PREFIX": PREFIX,
            "AWS_REGION": "eu-west-1",
            **environment,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return Outcome(completed.returncode, completed.stdout, completed.stderr, calls)


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def versions(kind: str, values: dict[str, str]) -> dict[str, str]:
    return {f"{function.upper()}_{kind}_VERSION": value for function, value in values.items()}


def test_rollback_points_live_back_at_each_recorded_version(pipeline: dict[str, Any], tmp_path: Path) -> None:
    recorded = {"replication": "7", "s3_cleanup": "3", "watermark_admin": "12"}

    outcome = run_script(tmp_path, script(pipeline, "rollback", "restore_live_alias"), versions("PREVIOUS", recorded))

    assert outcome.returncode == 0, outcome.stderr
    updates = outcome.calls_to("lambda update-alias")
    assert [(option(c, "--function-name"), option(c, "--name"), option(c, "--function-version")) for c in updates] == [
        (f"{PREFIX}-{FUNCTIONS[function]}", "live", version) for function, version in recorded.items()
    ]
    assert {option(c, "--routing-config") for c in updates} == {"AdditionalVersionWeights={}"}


def test_rollback_skips_functions_whose_version_was_never_recorded(pipeline: dict[str, Any], tmp_path: Path) -> None:
    # A failure before record_live_versions leaves its outputs unresolved.
    environment = versions("PREVIOUS", {"replication": "7", "s3_cleanup": "null", "watermark_admin": ""})

    outcome = run_script(tmp_path, script(pipeline, "rollback", "restore_live_alias"), environment)

    assert outcome.returncode == 0, outcome.stderr
    assert [option(c, "--function-name") for c in outcome.calls_to("lambda update-alias")] == [f"{PREFIX}-replication"]
    assert f"{PREFIX}-s3-cleanup: no recorded version" in outcome.stdout


def test_rollback_tries_every_function_and_fails_if_one_could_not_be_restored(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    recorded = {"replication": "7", "s3_cleanup": "3", "watermark_admin": "12"}
    responses = {f"lambda update-alias {PREFIX}-s3-cleanup": {"exit": 254}}

    outcome = run_script(
        tmp_path,
        script(pipeline, "rollback", "restore_live_alias"),
        versions("PREVIOUS", recorded),
        responses,
    )

    assert outcome.returncode == 1
    assert len(outcome.calls_to("lambda update-alias")) == 3
    assert f"{PREFIX}-s3-cleanup: could not restore live to 3" in outcome.stderr


def test_record_pins_unpublished_code_so_there_is_a_version_to_return_to(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    body = script(pipeline, "update_function_code", "record_live_versions")
    body += "\necho outputs: $REPLICATION_PREVIOUS_VERSION $S3_CLEANUP_PREVIOUS_VERSION"
    body += " $WATERMARK_ADMIN_PREVIOUS_VERSION"
    responses = {
        "lambda get-alias": {"stdout": "5\n"},
        f"lambda get-alias {PREFIX}-replication": {"stdout": "$LATEST\n"},
        "lambda publish-version": {"stdout": "1\n"},
    }

    outcome = run_script(tmp_path, body, {"PACKAGE_NAME": "0.1.0-abc1234"}, responses)

    assert outcome.returncode == 0, outcome.stderr
    assert [option(c, "--function-name") for c in outcome.calls_to("lambda publish-version")] == [
        f"{PREFIX}-replication"
    ]
    assert "outputs: 1 5 5" in outcome.stdout


def test_update_publishes_exactly_the_uploaded_code(pipeline: dict[str, Any], tmp_path: Path) -> None:
    body = script(pipeline, "update_function_code", "update_and_publish")
    body += '\necho "outputs: $REPLICATION_NEW_VERSION $S3_CLEANUP_NEW_VERSION $WATERMARK_ADMIN_NEW_VERSION"'
    responses = {
        "lambda update-function-code": {"stdout": "c2hhMjU2\n"},
        "lambda publish-version": {"stdout": "8\n"},
    }
    environment = {"PACKAGE_NAME": "0.1.0-abc1234", "ARCH": "arm64", "ARTIFACT_BUCKET": "artifacts"}

    outcome = run_script(tmp_path, body, environment, responses)

    assert outcome.returncode == 0, outcome.stderr
    updates = outcome.calls_to("lambda update-function-code")
    assert [option(c, "--s3-key") for c in updates] == [
        f"aurora-batch/0.1.0-abc1234/{function}-0.1.0-abc1234-arm64.zip" for function in FUNCTIONS
    ]
    assert {option(c, "--architectures") for c in updates} == {"arm64"}
    assert {option(c, "--code-sha256") for c in outcome.calls_to("lambda publish-version")} == {"c2hhMjU2"}
    waits = [" ".join(call[2:3]) for call in outcome.calls_to("lambda wait")]
    assert waits == ["function-updated-v2", "published-version-active"] * 3
    assert "outputs: 8 8 8" in outcome.stdout


@pytest.mark.parametrize(
    ("percent", "expected_version", "expected_routing"),
    [
        ("100", "9", "AdditionalVersionWeights={}"),
        ("25", "4", '{"AdditionalVersionWeights": {"9": 0.25}}'),
    ],
)
def test_shift_moves_all_traffic_or_a_share(
    pipeline: dict[str, Any], tmp_path: Path, percent: str, expected_version: str, expected_routing: str
) -> None:
    environment = {
        "TRAFFIC_SHIFT_PERCENT": percent,
        **versions("PREVIOUS", dict.fromkeys(FUNCTIONS, "4")),
        **versions("NEW", dict.fromkeys(FUNCTIONS, "9")),
    }

    outcome = run_script(tmp_path, script(pipeline, "move_live_alias", "shift_traffic"), environment)

    assert outcome.returncode == 0, outcome.stderr
    updates = outcome.calls_to("lambda update-alias")
    assert len(updates) == 3
    assert {(option(c, "--function-version"), option(c, "--routing-config")) for c in updates} == {
        (expected_version, expected_routing)
    }


SMOKE_ENVIRONMENT = {
    "REPLICATION_SMOKE_EVENT": "",
    **versions("NEW", {"replication": "9", "s3_cleanup": "6", "watermark_admin": "2"}),
}


def test_smoke_invokes_each_new_version(pipeline: dict[str, Any], tmp_path: Path) -> None:
    responses = {
        "lambda invoke": {"stdout": "200\tNone\n"},
        f"lambda invoke {PREFIX}-replication": {"stdout": "204\tNone\n"},
    }

    outcome = run_script(tmp_path, script(pipeline, "smoke_test", "invoke_new_versions"), SMOKE_ENVIRONMENT, responses)

    assert outcome.returncode == 0, outcome.stderr
    invokes = outcome.calls_to("lambda invoke")
    assert [
        (
            option(c, "--function-name"),
            option(c, "--qualifier"),
            option(c, "--invocation-type"),
            option(c, "--payload"),
        )
        for c in invokes
    ] == [
        (f"{PREFIX}-watermark-admin", "2", "RequestResponse", '{"action": "list"}'),
        (f"{PREFIX}-s3-cleanup", "6", "RequestResponse", '{"dry_run": true}'),
        (f"{PREFIX}-replication", "9", "DryRun", "{}"),
    ]


@pytest.mark.parametrize(
    "failing",
    [
        {"stdout": "200\tUnhandled\n", "payload": '{"errorType": "Runtime.ImportModuleError"}'},
        {"stdout": "500\tNone\n"},
        {"exit": 255},
    ],
)
def test_smoke_fails_on_a_function_error(pipeline: dict[str, Any], tmp_path: Path, failing: dict[str, Any]) -> None:
    responses = {"lambda invoke": {"stdout": "200\tNone\n"}, f"lambda invoke {PREFIX}-s3-cleanup": failing}

    outcome = run_script(tmp_path, script(pipeline, "smoke_test", "invoke_new_versions"), SMOKE_ENVIRONMENT, responses)

    assert outcome.returncode != 0
    assert len(outcome.calls_to("lambda invoke")) == 2  # stops at the first failure
    if "payload" in failing:
        assert "Runtime.ImportModuleError" in outcome.stderr


def test_smoke_sends_the_given_replication_event(pipeline: dict[str, Any], tmp_path: Path) -> None:
    event = '{"schema_name": "public", "table_name": "smoke_canary"}'
    responses = {
        "lambda invoke": {"stdout": "200\tNone\n"},
        f"lambda invoke {PREFIX}-replication": {"stdout": "204\tNone\n"},
    }

    outcome = run_script(
        tmp_path,
        script(pipeline, "smoke_test", "invoke_new_versions"),
        {**SMOKE_ENVIRONMENT, "REPLICATION_SMOKE_EVENT": event},
        responses,
    )

    # The stand-in answers 204 for every replication call, so the real invocation fails:
    # proof that the event was sent as a RequestResponse invocation expecting 200.
    assert outcome.returncode != 0
    last = outcome.calls_to("lambda invoke")[-1]
    assert (option(last, "--invocation-type"), option(last, "--payload")) == ("RequestResponse", event)


def test_bake_stops_at_the_first_error_of_a_new_version(pipeline: dict[str, Any], tmp_path: Path) -> None:
    responses = {"cloudwatch get-metric-statistics": {"stdout": "3.0\n"}}
    environment = {"BAKE_MINUTES": "10", **versions("NEW", dict.fromkeys(FUNCTIONS, "9"))}

    outcome = run_script(tmp_path, script(pipeline, "smoke_test", "bake_and_promote"), environment, responses)

    assert outcome.returncode == 1
    assert "had 3.0 errors while baking" in outcome.stderr
    (query,) = outcome.calls_to("cloudwatch get-metric-statistics")
    assert query[query.index("--dimensions") + 1 : query.index("--dimensions") + 4] == [
        f"Name=FunctionName,Value={PREFIX}-replication",
        f"Name=Resource,Value={PREFIX}-replication:live",
        "Name=ExecutedVersion,Value=9",
    ]
    assert outcome.calls_to("lambda update-alias") == []  # the rest of the traffic stays put


@pytest.mark.parametrize("minutes", ["0", "121"])
def test_bake_refuses_an_out_of_range_duration(pipeline: dict[str, Any], tmp_path: Path, minutes: str) -> None:
    environment = {"BAKE_MINUTES": minutes, **versions("NEW", dict.fromkeys(FUNCTIONS, "9"))}

    outcome = run_script(tmp_path, script(pipeline, "smoke_test", "bake_and_promote"), environment)

    assert outcome.returncode == 1
    assert outcome.calls == []
