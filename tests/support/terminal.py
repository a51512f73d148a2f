"""Running the `aurora-batch` command on a pseudo-terminal, and reading what it drew there."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("aurora-batch"))
RUN_SECONDS = 300
# A terminal wide enough for every column of the bar and the status table.
TERMINAL_ENV = {"COLUMNS": "220", "LINES": "50", "TERM": "xterm-256color"}
# CSI sequences (colours, cursor moves, erase line) and OSC sequences.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal; returns (exit code, all output)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [CLI, *args], stdin=terminal, stdout=terminal, stderr=terminal, env={**env, **TERMINAL_ENV}
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + RUN_SECONDS
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], deadline - time.monotonic())
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child's end is closed
                break
            if not chunk:
                break
            output += chunk
        else:
            process.kill()
            pytest.fail(f"aurora-batch {' '.join(args)} did not finish in {RUN_SECONDS}s")
    finally:
        os.close(controller)
    return process.wait(timeout=RUN_SECONDS), output.decode()


def screen_lines(output: str) -> list[str]:
    """Every line drawn, in order, escapes removed: each redraw of a bar is a line of its own."""
    return [line.rstrip() for line in re.split(r"[\r\n]+", ANSI.sub("", output)) if line.strip()]
