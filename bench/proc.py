"""What /proc says about CPU time and memory, for the bench's measurements (Linux only).

`server_cpu_seconds` is PostgreSQL's CPU time, read from its postmaster and backends;
`status_bytes` is a memory figure of the calling process itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import BenchPathError


def server_cpu_seconds(postmaster_pid: int | None) -> float:
    """CPU seconds PostgreSQL has used: its live processes' own, plus what the postmaster has reaped
    of its exited children (a finished backend's time moves into the postmaster's cutime/cstime).

    A backend reaped while /proc is being read would be counted twice or not at all, so the
    postmaster's reaped total is read before and after the children, and the reading is taken
    again until the two agree."""
    if postmaster_pid is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    while True:
        own, reaped_before = _postmaster_ticks(postmaster_pid)
        children = sum(_child_ticks(stat, postmaster_pid) for stat in Path("/proc").glob("[0-9]*/stat"))
        _, reaped_after = _postmaster_ticks(postmaster_pid)
        if reaped_before == reaped_after:
            return (own + reaped_after + children) / ticks


def _stat_fields(stat: Path) -> list[str] | None:
    try:
        return stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None  # exited meanwhile


def _postmaster_ticks(postmaster_pid: int) -> tuple[int, int]:
    """The postmaster's own utime + stime, and its reaped children's cutime + cstime."""
    fields = _stat_fields(Path(f"/proc/{postmaster_pid}/stat"))
    if fields is None:
        raise RuntimeError(f"the PostgreSQL postmaster {postmaster_pid} is gone")
    # fields[1] is the ppid; [11] utime, [12] stime, [13] cutime, [14] cstime
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _child_ticks(stat: Path, postmaster_pid: int) -> int:
    fields = _stat_fields(stat)
    if fields is None or int(fields[1]) != postmaster_pid:
        return 0  # not a backend; or reaped, and then the postmaster's totals disagree
    return int(fields[11]) + int(fields[12])


def status_bytes(field_name: str) -> int:
    """A memory figure of this process from /proc/self/status. VmHWM is the peak resident set
    size of this process alone: exec resets it, where ru_maxrss keeps the parent's."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) * 1024
    raise BenchPathError(f"/proc/self/status has no {field_name} line: the benchmark needs Linux")
