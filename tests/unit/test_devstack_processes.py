"""Child-process handling of the local stack, with small Python children (no servers of the stack)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aurora_batch_dev.errors import LocalStackError
from aurora_batch_dev.processes import (
    ChildProcess,
    PortService,
    redactor,
    stop_all,
    tcp_accepts,
)
from aurora_batch_dev.stack import OWNER_PID_FILE, STACK_DIR_PREFIX, remove_stale_stack_dirs

DEADLINE_SECONDS = 20.0


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling a condition, with a deadline


def python_child(name: str, code: str, log_path: Path, **kwargs: object) -> ChildProcess:
    return ChildProcess(name, [sys.executable, "-c", code], log_path=log_path, **kwargs)  # type: ignore[arg-type]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_redactor_hides_every_secret_and_longest_first() -> None:
    redact = redactor(["abc", "abcdef", ""])
    assert redact("x=abcdef y=abc z=ab") == "x=*** y=*** z=ab"


def test_log_of_a_child_holding_a_secret_is_redacted(tmp_path: Path) -> None:
    log_path = tmp_path / "child.log"
    child = python_child("talker", "print('Root Token: s3cr3t-value; done')", log_path, secrets=["s3cr3t-value"])

    assert child.popen.wait(timeout=DEADLINE_SECONDS) == 0

    stop_all([child], timeout=DEADLINE_SECONDS)  # also drains the log pump

    text = log_path.read_text()
    assert "Root Token: ***; done" in text
    assert "s3cr3t-value" not in text


def test_a_child_that_exits_early_is_retried_then_reported_with_its_log_tail(tmp_path: Path) -> None:
    ports: list[int] = []

    def launch(port: int) -> ChildProcess:
        ports.append(port)
        return python_child("broken", f"print('cannot bind {port}'); raise SystemExit(3)", tmp_path / "b.log")

    service = PortService("broken", launch, lambda port: False, attempts=3)
    service.spawn()

    with pytest.raises(LocalStackError) as raised:
        service.wait_ready(DEADLINE_SECONDS)

    assert len(ports) == 3
    assert f"cannot bind {ports[-1]}" in str(raised.value)
    assert raised.value.fields["service"] == "broken"
    assert raised.value.fields["exit_code"] == 3


def test_a_child_that_exits_early_is_restarted_on_another_port(tmp_path: Path) -> None:
    attempts: list[int] = []

    def launch(port: int) -> ChildProcess:
        attempts.append(port)
        if len(attempts) == 1:
            return python_child("flaky", "raise SystemExit('address already in use')", tmp_path / "f.log")
        serve = (
            f"import http.server as h; h.HTTPServer(('127.0.0.1', {port}), h.BaseHTTPRequestHandler).serve_forever()"
        )
        return python_child("flaky", serve, tmp_path / "f.log")

    service = PortService("flaky", launch, tcp_accepts)
    service.spawn()
    try:
        service.wait_ready(DEADLINE_SECONDS)
        assert len(attempts) == 2
        assert service.port == attempts[1]
        assert tcp_accepts(service.port)
    finally:
        stop_all([service.child] if service.child else [], timeout=DEADLINE_SECONDS)


def test_a_child_ignoring_the_stop_signal_is_killed_after_the_timeout(tmp_path: Path) -> None:
    log_path = tmp_path / "stubborn.log"
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring SIGTERM', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = python_child("stubborn", code, log_path)
    poll(lambda: "ignoring SIGTERM" in log_path.read_text().splitlines(), "the child to ignore SIGTERM")

    stop_all([child], timeout=0.5)

    assert child.popen.returncode == -9
    assert not pid_alive(child.pid)


SPAWN_AND_WAIT = """
import sys, threading
from pathlib import Path
from aurora_batch_dev.processes import ChildProcess
sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
child = ChildProcess("sleeper", sleep, log_path=Path(sys.argv[1]))
print(child.pid, flush=True)
threading.Event().wait()
"""


def test_a_child_dies_with_its_sigkilled_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", SPAWN_AND_WAIT, str(tmp_path / "sleeper.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert pid_alive(child_pid)

        parent.kill()
        parent.wait(timeout=DEADLINE_SECONDS)

        poll(lambda: not pid_alive(child_pid), "the orphaned child to die")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=DEADLINE_SECONDS)


def test_only_directories_of_dead_stack_owners_are_removed(tmp_path: Path) -> None:
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    stale, live, foreign = (tmp_path / f"{STACK_DIR_PREFIX}{n}" for n in ("stale", "live", "foreign"))
    for directory in (stale, live, foreign):
        directory.mkdir()
    (stale / OWNER_PID_FILE).write_text(str(dead_owner.pid))
    (live / OWNER_PID_FILE).write_text(str(os.getpid()))

    assert remove_stale_stack_dirs(tmp_path) == [stale]
    assert not stale.exists()
    assert live.exists()
    assert foreign.exists()  # no owner file: being created, or not a stack's
