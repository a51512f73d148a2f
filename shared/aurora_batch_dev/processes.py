"""Child processes of the local stack: free ports, readiness polling, dying with the parent, teardown.

Every child runs in its own process group and carries a parent-death signal (Linux
``PR_SET_PDEATHSIG``), so a SIGKILLed stack owner leaves no orphans. The kernel sends that
signal when the *thread* that forked the child exits, so children are spawned from the thread
that owns the stack (the one calling ``LocalStack.start``), never from a worker pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aurora_batch_dev.errors import LocalStackError

LOOPBACK = "127.0.0.1"
POLL_INTERVAL_SECONDS = 0.05
LOG_TAIL_LINES = 30
REDACTED = "***"

_PR_SET_PDEATHSIG = 1
# Loaded once in the parent: the code between fork and exec must not import or allocate much.
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_PRCTL = _LIBC.prctl
# Loopback probes must never go through a proxy configured in the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account a child runs as when the stack owner is root (PostgreSQL refuses root)."""

    uid: int
    gid: int


def free_port() -> int:
    """A loopback port that is free right now. Callers retry on the rare collision."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_accepts(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of GET url, or None when nothing answers. Only for loopback URLs we build."""
    try:
        with _HTTP.open(url, timeout=timeout) as response:  # loopback URLs built here only
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def redactor(secrets: Collection[str]) -> Callable[[str], str]:
    """A function that replaces every given secret value in a text by ***."""
    values = sorted((s for s in secrets if s), key=len, reverse=True)
    if not values:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(v) for v in values))
    return lambda text: pattern.sub(REDACTED, text)


def _die_with_parent(parent_death_signal: int) -> Callable[[], None]:
    parent_pid = os.getpid()

    def set_parent_death_signal() -> None:  # runs in the child between fork and exec
        _PRCTL(_PR_SET_PDEATHSIG, parent_death_signal, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return set_parent_death_signal


def _pump_redacted(source: IO[bytes], log_path: Path, redact: Callable[[str], str]) -> None:
    with source, log_path.open("a", encoding="utf-8") as log:
        for raw_line in source:
            log.write(redact(raw_line.decode("utf-8", errors="replace")))
            log.flush()


class ChildProcess:
    """One running child: its process group, its log file, and how to stop it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        stop_signal: int = signal.SIGTERM,
        parent_death_signal: int = signal.SIGKILL,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        run_as: RunAs | None = None,
        secrets: Collection[str] = (),
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.stop_signal = stop_signal
        self._redact = redactor(secrets)
        self._pump: threading.Thread | None = None
        with log_path.open("ab") as log:
            log.write(self._redact(f"--- {name}: {' '.join(argv)}\n").encode())
            log.flush()
            # A child whose output may hold a secret writes through a redacting pump; others
            # write to the log file directly, which keeps working if the stack owner is killed.
            stdout: int | IO[bytes] = subprocess.PIPE if secrets else log
            try:
                self.popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    process_group=0,
                    user=run_as.uid if run_as else None,
                    group=run_as.gid if run_as else None,
                    extra_groups=[] if run_as else None,
                    preexec_fn=_die_with_parent(parent_death_signal),  # prctl must run in the child
                )
            except OSError as exc:
                raise LocalStackError(f"cannot start {name}", service=name, error=str(exc)) from exc
        if secrets and self.popen.stdout is not None:
            self._pump = threading.Thread(
                target=_pump_redacted,
                args=(self.popen.stdout, log_path, self._redact),
                name=f"log-{name}",
                daemon=True,
            )
            self._pump.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return self._redact("\n".join(text.splitlines()[-lines:]))

    def failure(self, message: str, **fields: object) -> LocalStackError:
        """An error for this child whose message ends with the tail of its log."""
        return LocalStackError(
            f"{message}\n--- last lines of {self.log_path} ---\n{self.log_tail()}",
            service=self.name,
            exit_code=self.popen.poll(),
            **fields,
        )

    def request_stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)

    def wait_stopped(self, timeout: float) -> None:
        """Wait for the child to exit, SIGKILL its whole group after timeout, and reap it."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.popen.wait(timeout=timeout)
        self._kill_group()  # grandchildren that outlived the leader (e.g. PostgreSQL backends)
        if self._pump is not None:
            self._pump.join(timeout=timeout)

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    child: ChildProcess,
    waiting_for: str,
) -> None:
    """Poll condition until it holds; fail early if the child exits, or when timeout passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if not child.alive():
            raise child.failure(f"{child.name} exited while waiting for {waiting_for}")
        if time.monotonic() > deadline:
            raise child.failure(f"{child.name}: timed out after {timeout:.0f}s waiting for {waiting_for}")
        time.sleep(POLL_INTERVAL_SECONDS)


class PortService:
    """A server child bound to a free loopback port, restarted on another port if it dies early
    (the port can be taken between ``free_port`` and the child's bind)."""

    def __init__(
        self,
        name: str,
        launch: Callable[[int], ChildProcess],
        ready: Callable[[int], bool],
        *,
        attempts: int = 3,
    ) -> None:
        self.name = name
        self._launch = launch
        self._ready = ready
        self._attempts_left = attempts
        self.port = 0
        self.child: ChildProcess | None = None

    def spawn(self) -> None:
        self._attempts_left -= 1
        self.port = free_port()
        self.child = self._launch(self.port)

    def respawn(self, stop_timeout: float) -> None:
        """Stop the current child and start a fresh one (e.g. because a dependency moved port)."""
        if self.child is not None:
            stop_all([self.child], stop_timeout)
        self.spawn()

    def wait_ready(self, timeout: float) -> None:
        assert self.child is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while True:
            child = self.child
            try:
                wait_until(
                    lambda: self._ready(self.port),
                    timeout=max(deadline - time.monotonic(), 0.0),
                    child=child,
                    waiting_for=f"port {self.port}",
                )
                return
            except LocalStackError:
                if child.alive() or self._attempts_left <= 0:
                    raise
                self.spawn()


def stop_all(children: Sequence[ChildProcess], timeout: float) -> None:
    """Ask every child to stop at once, then wait for each (stopping in parallel is faster)."""
    for child in children:
        child.request_stop()
    for child in children:
        child.wait_stopped(timeout)
