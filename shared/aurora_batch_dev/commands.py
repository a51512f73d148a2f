"""The ``stack`` and ``demo`` commands of ``aurora-batch``.

The operator CLI (aurora_batch.cli) stays in production and asks this module for them. Only the
standard library loads here, so every CLI start can afford the import; a command loads the stack
when it runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from aurora_batch_dev.errors import DevStackError

EXIT_FAILED = 1
# Python modules of the dev extra that the stack's services run on.
DEV_DEPENDENCIES = ("moto", "fakesnow", "duckdb")


def missing_dependencies() -> list[str]:
    """The dev extra's modules that are not installed (a plain `pip install .` has none of them)."""
    return [name for name in DEV_DEPENDENCIES if importlib.util.find_spec(name) is None]


def cmd_stack(args: argparse.Namespace) -> int:
    from aurora_batch_dev.stack import run_stack_up

    return int(run_stack_up())


def cmd_demo(args: argparse.Namespace) -> int:
    from aurora_batch_dev.demo import run_demo

    try:
        return run_demo(rows=args.rows)
    except DevStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stack up`` and ``demo`` to the CLI's subcommands."""
    stack = subparsers.add_parser("stack", help="the local stack of real services")
    stack_actions = stack.add_subparsers(dest="stack_action", required=True)
    stack_actions.add_parser("up", help="start it, print its environment, run until interrupted")
    stack.set_defaults(func=cmd_stack)

    demo = subparsers.add_parser("demo", help="replicate a sample database through the local stack")
    demo.add_argument("--rows", type=int, default=120_000, help="rows in all, across the three tables")
    demo.set_defaults(func=cmd_demo)
