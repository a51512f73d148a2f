"""SQL built from strings (bandit B608, ruff S608) is allowed only where a line says why: the
suppression is per statement, never for the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CODE = ["shared", "services", "tools"]


def test_bandit_finds_no_unsuppressed_sql_built_from_strings() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bandit", "--recursive", "--tests", "B608", "--quiet", "--format", "txt", *CODE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_suppression_names_the_rule_and_follows_a_reason() -> None:
    suppressed = 0
    for path in sorted(p for folder in CODE for p in (ROOT / folder).rglob("*.py")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if "nosec" not in line:
                continue
            suppressed += 1
            assert "# nosec B608" in line, f"{path}:{number + 1}: a nosec names its rule"
            reason = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip().startswith("#")), "")
            assert "(bandit B608)" in reason, f"{path}:{number + 1}: the line above says why the SQL is safe"
    assert suppressed > 0


def test_no_workflow_or_lint_config_skips_b608_for_the_whole_project() -> None:
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        text = workflow.read_text()
        yaml.safe_load(text)
        assert "B608" not in text, workflow.name
    ruff = (
        (ROOT / "pyproject.toml")
        .read_text()
        .split("[tool.ruff.lint]", 1)[1]
        .split("[tool.ruff.lint.per-file-ignores]")[0]
    )
    assert "S608" not in ruff
