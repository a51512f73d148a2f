"""The import-linter contracts in pyproject.toml hold on the real tree, and break when a logic
module imports an adapter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(python_path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the contracts over the packages found first on `python_path`."""
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_hold_on_the_tree(tmp_path: Path) -> None:
    result = _lint_imports(ROOT / "shared", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "added", "contract"),
    [
        ("aurora_batch/logic/cleanup.py", "import aurora_batch.adapters.s3", "Logic does not import adapters"),
        ("aurora_batch/logic/replicate/plan.py", "import aurora_batch.wiring", "Logic does not import adapters"),
        ("aurora_batch/adapters/s3.py", "import aurora_batch.logic.stage", "Adapters do not import logic"),
        ("aurora_batch/watermark.py", "import aurora_batch.adapters.s3", "Only the wiring imports adapters"),
        ("aurora_batch/logic/extract.py", "import psycopg2", "Only adapters import boto3"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, added: str, contract: str) -> None:
    copy = tmp_path / "shared"
    shutil.copytree(ROOT / "shared", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    changed = copy / module
    changed.write_text(changed.read_text() + f"\n{added}  # noqa\n")

    result = _lint_imports(copy, tmp_path)

    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.startswith(contract)]
    assert broken and " BROKEN" in broken[0], result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
