"""The operator CLI takes its `stack` and `demo` commands from the development package: with it
installed they run the stack and the demo; without it (or without the dev extra it runs on) they
say what to install and exit 2, and every other command works as before. Nothing else in the
production package imports the development package."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from aurora_batch import cli
from aurora_batch_dev import commands

PRODUCTION_PACKAGE = Path(cli.__file__).parent


def without_development_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after `pip install .` of a tree without shared/aurora_batch_dev: the import fails."""
    for name in ("aurora_batch_dev", "aurora_batch_dev.commands"):
        monkeypatch.setitem(sys.modules, name, None)


def test_stack_and_demo_come_from_the_development_package() -> None:
    parser = cli.build_parser()

    stack = parser.parse_args(["stack", "up"])
    demo = parser.parse_args(["demo", "--rows", "600"])

    assert stack.func is commands.cmd_stack
    assert stack.stack_action == "up"
    assert demo.func is commands.cmd_demo
    assert demo.rows == 600


@pytest.mark.parametrize("argv", [["stack", "up"], ["demo"], ["demo", "--rows", "600"], ["stack", "--help"]])
def test_without_the_development_package_the_commands_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    without_development_package(monkeypatch)

    code = cli.main(argv)

    assert code == cli.EXIT_CONFIG
    assert capsys.readouterr().err.strip() == (
        "error: the stack and demo commands need the development package (pip install -e '.[dev]')"
    )


def test_without_the_dev_extra_dependencies_the_commands_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(commands, "DEV_DEPENDENCIES", (*commands.DEV_DEPENDENCIES, "aurora_batch_no_such_module"))

    code = cli.main(["demo", "--rows", "600"])

    assert commands.missing_dependencies() == ["aurora_batch_no_such_module"]
    assert code == cli.EXIT_CONFIG
    assert "need the development package (pip install -e '.[dev]')" in capsys.readouterr().err


def test_without_the_development_package_the_operator_commands_still_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    without_development_package(monkeypatch)
    parser = cli.build_parser()

    assert parser.parse_args(["watermark", "list"]).func is cli.cmd_watermark
    assert parser.parse_args(["cleanup", "--dry-run"]).func is cli.cmd_cleanup
    assert parser.parse_args(["replicate", "--json"]).func is cli.cmd_replicate


def test_only_the_cli_imports_the_development_package() -> None:
    importers = set()
    for path in PRODUCTION_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "aurora_batch_dev" for name in names):
                importers.add(path.relative_to(PRODUCTION_PACKAGE).as_posix())

    assert importers == {"cli.py"}
