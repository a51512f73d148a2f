"""harness/pipeline.yaml: its structure (the runtime inputs and the fixed configuration, the
Artifactory connector, the stages in order with the prod approval gate and the Terraform plan
approval, rollback on failure, secrets only as Harness references), and what its scripts do,
run under bash against stand-in `aws`, `curl` and `gh` commands that record each call and
answer as the real ones would."""

from __future__ import annotations

import base64
import hashlib
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
    "package_name",
    "aws_region",
)
# Pipeline configuration: fixed values, never chosen by whoever runs the pipeline.
FIXED = ("artifactory_connector", "artifactory_url", "artifactory_repo", "github_repository", "function_name_prefix")
CONNECTOR_PATH = PIPELINE_PATH.parent / "connectors" / "artifactory.yaml"
STAGES = (
    "fetch_artifact",
    "prod_approval",
    "terraform_cloud_run",
    "update_function_code",
    "move_live_alias",
    "smoke_test",
    "rollback",
)
SEED_SECRETS = {"aurora_batch_artifactory_token", "github_attestations_token", "terraform_cloud_token"}
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


def shell_steps(pipeline: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [found for found in ci_lint.harness_steps({"pipeline": pipeline}) if found[2]["type"] == "ShellScript"]


def environment_of(pipeline: dict[str, Any], stage_id: str, step_id: str) -> dict[str, str]:
    variables = step(pipeline, stage_id, step_id)["spec"]["environmentVariables"]
    return {variable["name"]: str(variable["value"]) for variable in variables}


# --- structure ---------------------------------------------------------------------------


def test_seed_inputs_are_runtime_inputs(pipeline: dict[str, Any]) -> None:
    variables = {variable["name"]: variable for variable in pipeline["variables"]}
    for name in SEED_INPUTS:
        assert variables[name]["type"] == "String"
        assert variables[name]["value"] == "<+input>"
        assert variables[name]["required"] is True


def test_only_the_configuration_is_fixed_everything_else_is_a_runtime_input(pipeline: dict[str, Any]) -> None:
    fixed = [v["name"] for v in pipeline["variables"] if "<+input>" not in str(v["value"])]
    assert tuple(fixed) == FIXED


def test_artifactory_is_the_fixed_connector_never_a_runtime_url(pipeline: dict[str, Any]) -> None:
    variables = {variable["name"]: str(variable["value"]) for variable in pipeline["variables"]}
    connector = ci_lint.load_yaml(CONNECTOR_PATH)["connector"]
    assert connector["type"] == "Artifactory"
    assert variables["artifactory_connector"] == connector["identifier"]
    assert variables["artifactory_url"] == connector["spec"]["artifactoryServerUrl"]
    assert variables["artifactory_url"].startswith("https://")
    assert "<+" not in variables["artifactory_url"] + variables["artifactory_repo"]
    # The fetch step authenticates with the connector's own secret, sent only to its URL.
    environment = environment_of(pipeline, "fetch_artifact", "download_and_stage")
    secret = connector["spec"]["auth"]["spec"]["passwordRef"]
    assert environment["ARTIFACTORY_TOKEN"] == f'<+secrets.getValue("{secret}")>'
    assert environment["ARTIFACTORY_URL"] == "<+pipeline.variables.artifactory_url>"
    assert environment["ARTIFACTORY_REPO"] == "<+pipeline.variables.artifactory_repo>"
    assert not any("USER" in name or "PASSWORD" in name for name in environment)
    body = script(pipeline, "fetch_artifact", "download_and_stage")
    assert '"${ARTIFACTORY_URL%/}/${ARTIFACTORY_REPO}/aurora-batch/${name}"' in body


def test_prod_is_gated_by_a_harness_approval(pipeline: dict[str, Any]) -> None:
    gate = stages(pipeline)["prod_approval"]
    assert gate["type"] == "Approval"
    assert gate["when"] == {
        "pipelineStatus": "Success",
        "condition": '<+pipeline.variables.target_environment> == "prod"',
    }
    (entry,) = gate["spec"]["execution"]["steps"]
    approval = entry["step"]
    assert approval["type"] == "HarnessApproval"
    assert approval["spec"]["approvers"]["disallowPipelineExecutor"] is True
    assert approval["spec"]["approvers"]["minimumCount"] >= 1
    assert approval["spec"]["approvers"]["userGroups"] == ["aurora_batch_prod_approvers"]
    # After the artifact is verified, before anything in the environment changes.
    order = list(stages(pipeline))
    assert order.index("fetch_artifact") < order.index("prod_approval") < order.index("terraform_cloud_run")
    # The environment decides which functions change, so prod cannot be reached under another name.
    variables = {variable["name"]: variable for variable in pipeline["variables"]}
    assert variables["target_environment"]["value"] == "<+input>.allowedValues(staging,prod)"
    assert variables["function_name_prefix"]["value"] == "aurora-batch-<+pipeline.variables.target_environment>"


def test_terraform_cloud_plans_waits_for_approval_then_applies(pipeline: dict[str, Any]) -> None:
    steps = [entry["step"] for entry in stages(pipeline)["terraform_cloud_run"]["spec"]["execution"]["steps"]]
    assert [(found["identifier"], found["type"]) for found in steps] == [
        ("plan_run", "ShellScript"),
        ("approve_plan", "HarnessApproval"),
        ("apply_run", "ShellScript"),
    ]
    plan = script(pipeline, "terraform_cloud_run", "plan_run")
    assert '"auto-apply": false' in plan
    assert '"auto-apply": true' not in PIPELINE_PATH.read_text()
    assert "actions/apply" not in plan
    assert "/actions/apply" in script(pipeline, "terraform_cloud_run", "apply_run")
    assert steps[1]["spec"]["approvers"]["disallowPipelineExecutor"] is True
    changed = '<+execution.steps.plan_run.output.outputVariables.TFC_HAS_CHANGES> == "true"'
    assert steps[1]["when"]["condition"] == changed
    assert steps[2]["when"]["condition"] == changed


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
    for stage_id, step_id, found in shell_steps(pipeline):
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
        if found["type"] != "ShellScript":
            continue
        body = found["spec"]["source"]["spec"]["script"]
        assert "secrets." not in body  # secrets reach scripts through their environment only


def test_ci_lint_flags_an_inline_secret_and_xtrace(tmp_path: Path) -> None:
    text = PIPELINE_PATH.read_text()
    leaky = tmp_path / "pipeline.yaml"
    leaky.write_text(
        text.replace('<+secrets.getValue("aurora_batch_artifactory_token")>', "hunter2").replace(
            "set -uo pipefail", "set -xuo pipefail"
        )
    )
    problems = ci_lint.harness_problems(leaky)
    assert any("ARTIFACTORY_TOKEN must be" in problem for problem in problems)
    assert any("xtrace" in problem for problem in problems)


def test_scripts_pass_shellcheck(pipeline: dict[str, Any]) -> None:
    scripts = ci_lint.harness_scripts(PIPELINE_PATH, {"pipeline": pipeline})
    assert len(scripts) == len(shell_steps(pipeline))
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


UPDATE_ENVIRONMENT = {
    "PACKAGE_NAME": "0.1.0-abc1234",
    "ARCH": "arm64",
    "ARTIFACT_BUCKET": "artifacts",
    "TARGET_ENVIRONMENT": "staging",
}


def code_sha256(values: dict[str, str]) -> dict[str, str]:
    return {f"{function.upper()}_CODE_SHA256": value for function, value in values.items()}


def test_update_refuses_code_other_than_the_verified_zip(pipeline: dict[str, Any], tmp_path: Path) -> None:
    responses = {"lambda update-function-code": {"stdout": "c2hhMjU2\n"}}
    verified = {"replication": "c2hhMjU2", "s3_cleanup": "b3RoZXI=", "watermark_admin": "c2hhMjU2"}
    environment = {**UPDATE_ENVIRONMENT, **code_sha256(verified)}

    outcome = run_script(
        tmp_path, script(pipeline, "update_function_code", "update_and_publish"), environment, responses
    )

    assert outcome.returncode == 1
    assert f"{PREFIX}-s3-cleanup: Lambda got sha256 c2hhMjU2, verified b3RoZXI=" in outcome.stderr
    assert [option(c, "--function-name") for c in outcome.calls_to("lambda publish-version")] == [
        f"{PREFIX}-replication"
    ]


@pytest.mark.parametrize(("policy", "allowed"), [("Enforce", True), ("Warn", False)])
def test_update_in_prod_requires_enforced_code_signing(
    pipeline: dict[str, Any], tmp_path: Path, policy: str, allowed: bool
) -> None:
    responses = {
        "lambda get-function-code-signing-config": {"stdout": "arn:aws:lambda:eu-west-1:1:code-signing-config:csc-1\n"},
        "lambda get-code-signing-config": {"stdout": f"{policy}\n"},
        "lambda update-function-code": {"stdout": "c2hhMjU2\n"},
        "lambda publish-version": {"stdout": "8\n"},
    }
    environment = {
        **UPDATE_ENVIRONMENT,
        "TARGET_ENVIRONMENT": "prod",
        **code_sha256(dict.fromkeys(FUNCTIONS, "c2hhMjU2")),
    }

    outcome = run_script(
        tmp_path, script(pipeline, "update_function_code", "update_and_publish"), environment, responses
    )

    assert (outcome.returncode == 0) is allowed, outcome.stderr
    assert len(outcome.calls_to("lambda update-function-code")) == (3 if allowed else 0)
    if not allowed:
        assert "code signing is not enforced" in outcome.stderr


CURL_STUB = """\
#!{python}
# Stand-in for curl: records its arguments (and whether its config carried a bearer token),
# writes a body derived from the URL to --output.
import json, os, sys
arguments = sys.argv[1:]
config = sys.stdin.read() if "--config" in arguments else ""
with open(os.environ["AWS_STUB_LOG"], "a") as log:
    log.write(json.dumps(["curl", *arguments, f"bearer={{'Authorization: Bearer ' in config}}"]) + "\\n")
with open(arguments[arguments.index("--output") + 1], "wb") as body:
    body.write(b"zip of " + arguments[-1].encode())
"""

FETCH_ENVIRONMENT = {
    "ARTIFACTORY_URL": "https://artifactory.example.com/artifactory",
    "ARTIFACTORY_REPO": "aurora-batch-lambda",
    "ARTIFACTORY_TOKEN": "artifactory-token-value",
    "GITHUB_REPOSITORY": "data-platform/aurora-batch",
    "GH_TOKEN": "github-token-value",
    "PACKAGE_NAME": "0.1.0-abc1234",
    "ARCH": "arm64",
    "ARTIFACT_BUCKET": "artifacts",
}


def run_fetch(pipeline: dict[str, Any], tmp_path: Path, responses: dict[str, Any]) -> Outcome:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("curl", CURL_STUB), ("gh", STUB)):
        (bin_dir / name).write_text(text.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    body = script(pipeline, "fetch_artifact", "download_and_stage")
    body += '\necho "outputs: $REPLICATION_CODE_SHA256 $S3_CLEANUP_CODE_SHA256 $WATERMARK_ADMIN_CODE_SHA256"'
    return run_script(tmp_path, body, FETCH_ENVIRONMENT, responses)


def test_fetch_verifies_each_zip_against_its_github_attestation(pipeline: dict[str, Any], tmp_path: Path) -> None:
    outcome = run_fetch(pipeline, tmp_path, {})

    assert outcome.returncode == 0, outcome.stderr
    downloads = [call for call in outcome.calls if call[0] == "curl"]
    urls = [call[-2] for call in downloads]
    base = "https://artifactory.example.com/artifactory/aurora-batch-lambda/aurora-batch"
    assert urls == [f"{base}/{function}-0.1.0-abc1234-arm64.zip" for function in FUNCTIONS]
    assert {call[-1] for call in downloads} == {"bearer=True"}
    assert not any("token-value" in argument for call in outcome.calls for argument in call)  # never argv
    verifications = outcome.calls_to("attestation verify")
    assert len(verifications) == 3
    for call in verifications:
        assert option(call, "--repo") == "data-platform/aurora-batch"
        assert option(call, "--signer-workflow") == "data-platform/aurora-batch/.github/workflows/build.yml"
        assert option(call, "--source-ref") == "refs/heads/main"
    assert len(outcome.calls_to("s3 cp")) == 3
    digests = [base64.b64encode(hashlib.sha256(b"zip of " + url.encode()).digest()).decode() for url in urls]
    assert f"outputs: {' '.join(digests)}" in outcome.stdout


def test_fetch_stages_nothing_whose_attestation_does_not_verify(pipeline: dict[str, Any], tmp_path: Path) -> None:
    outcome = run_fetch(pipeline, tmp_path, {"attestation verify": {"exit": 1}})

    assert outcome.returncode != 0
    assert len(outcome.calls_to("attestation verify")) == 1
    assert outcome.calls_to("s3 cp") == []
    assert not any(call[-2].endswith(".sha256") for call in outcome.calls if call[0] == "curl")


def test_update_publishes_exactly_the_uploaded_code(pipeline: dict[str, Any], tmp_path: Path) -> None:
    body = script(pipeline, "update_function_code", "update_and_publish")
    body += '\necho "outputs: $REPLICATION_NEW_VERSION $S3_CLEANUP_NEW_VERSION $WATERMARK_ADMIN_NEW_VERSION"'
    responses = {
        "lambda update-function-code": {"stdout": "c2hhMjU2\n"},
        "lambda publish-version": {"stdout": "8\n"},
    }
    environment = {**UPDATE_ENVIRONMENT, **code_sha256(dict.fromkeys(FUNCTIONS, "c2hhMjU2"))}

    outcome = run_script(tmp_path, body, environment, responses)

    assert outcome.returncode == 0, outcome.stderr
    assert outcome.calls_to("lambda get-function-code-signing-config") == []  # checked in prod only
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
