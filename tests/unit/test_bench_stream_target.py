"""The bench's "2 streams no slower than 1" target: the fastest runs compared, with each path's
spread between its runs shown beside the ratio."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.paths import PathResult
from bench.run import ENGINE_LOCAL, ENGINE_TWO_STREAMS, BenchConfig, BenchReport, Machine, Scale, TargetCheck

ROWS = 4_000_000


def stream_check(
    one_stream: list[float], two_streams: list[float], checksums: tuple[str, str] = ("a", "a")
) -> tuple[TargetCheck, TargetCheck]:
    scale = Scale(rows=ROWS, disk_bytes=0)
    for path, walls, checksum in (
        (ENGINE_LOCAL, one_stream, checksums[0]),
        (ENGINE_TWO_STREAMS, two_streams, checksums[1]),
    ):
        for wall in walls:
            scale.add(PathResult(path, ROWS, 0, 1, wall, wall, 200.0, 90.0, checksum=checksum))
    report = BenchReport(BenchConfig(), Machine(2, 0, "", "", "", "", ""), datetime.now(UTC), scales=[scale])
    wall_check, _, same_data = report._stream_checks()
    return wall_check, same_data


@pytest.mark.parametrize(
    ("one_stream", "two_streams", "passed"),
    [
        ([6.00, 6.10, 6.20], [5.90, 6.40, 6.50], True),  # faster
        ([6.00, 6.30, 6.60], [6.00, 6.40, 6.50], True),  # a tie
        ([6.00, 6.30, 6.60], [6.10, 6.20, 6.30], False),  # 1.7% slower, inside one stream's spread
    ],
)
def test_two_streams_pass_only_when_their_fastest_run_is_no_slower(
    one_stream: list[float], two_streams: list[float], passed: bool
) -> None:
    wall_check, _ = stream_check(one_stream, two_streams)

    assert wall_check.passed is passed
    assert f"1 stream {min(one_stream):.2f} to {max(one_stream):.2f} s" in wall_check.measured
    assert f"2 streams {min(two_streams):.2f} to {max(two_streams):.2f} s" in wall_check.measured


def test_two_streams_that_stage_other_data_fail_however_fast() -> None:
    _, same_data = stream_check([6.0, 6.1, 6.2], [5.0, 5.1, 5.2], checksums=("a", "b"))

    assert same_data.passed is False
