"""The verify section of `make bench`: verify and repair against a full refresh of the same table.

On the bench table (row_digest on): a full refresh into the Snowflake emulator, a verify of the
unchanged table, then 20 rows deleted in the source, 20 updated without touching the watermark
column, 20 removed from the target behind the replicator's back, and a verify with repair. Each
step runs in a process of its own (``python -m bench.verify <step>``, the job as JSON on stdin,
the result as one JSON line on stdout), so its peak RSS (``VmHWM``) is its own. Afterwards the
source rows are put back as the generator wrote them, so the rest of the bench sees the same table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from aurora_batch.model import TableRef, snowflake_name

from bench import dataset
from bench.errors import BenchPathError
from bench.paths import CHILD_TIMEOUT_SECONDS, REPO_ROOT
from bench.proc import status_bytes

if TYPE_CHECKING:
    from aurora_batch_dev import LocalStack

STEPS = ("full-refresh", "verify", "verify-repair")
DAMAGED_ROWS = 20  # per kind: deleted in the source, silently updated, removed from the target
# The targets: repair reads < 1% of the source through COPY; an unchanged verify ≤ 0.3x a full refresh.
MAX_REPAIR_COPY_FRACTION = 0.01
MAX_VERIFY_WALL_RATIO = 0.3


@dataclass(frozen=True)
class VerifyJob:
    step: str
    schema: str
    table: str
    env: dict[str, str] = field(repr=False)  # the stack's environment: set in the child, never in argv

    def options(self) -> Any:
        from aurora_batch.config import TableOptions

        return TableOptions(
            schema_name=self.schema,
            table_name=self.table,
            target_schema=snowflake_name(self.schema),
            row_digest=True,
            delete_mode="hard",
        )


@dataclass(frozen=True)
class StepResult:
    step: str
    status: str
    wall_seconds: float
    peak_rss_mb: float
    rows_read_by_copy: int  # source rows COPY read: the extract's for a refresh, the repair's for a verify
    report: dict[str, Any]


@dataclass
class VerifySection:
    rows: int
    damaged: dict[str, list[int]] = field(default_factory=dict)  # kind -> ids
    steps: dict[str, StepResult] = field(default_factory=dict)

    def found(self, kind: str) -> list[int]:
        samples = self.steps["verify-repair"].report.get("samples") or {}
        return sorted(int(key[0]) for key in samples.get(kind, []))

    def checks(self) -> list[tuple[str, str, bool]]:
        """(target, measured, passed) of each verify target."""
        refresh, unchanged, repair = (self.steps[s] for s in STEPS)
        report = repair.report
        expected = {kind: sorted(ids) for kind, ids in self.damaged.items()}
        found = {kind: self.found(kind) for kind in expected}
        exact = found == expected and report.get("drift") == 3 * DAMAGED_ROWS and report.get("remaining") == 0
        fraction = repair.rows_read_by_copy / self.rows if self.rows else 0.0
        ratio = unchanged.wall_seconds / refresh.wall_seconds if refresh.wall_seconds else float("inf")
        return [
            (
                f"verify --repair finds exactly the {3 * DAMAGED_ROWS} damaged keys and fixes them",
                f"missing {report.get('missing')}, deleted {report.get('deleted')}, changed {report.get('changed')}; "
                f"remaining {report.get('remaining')}",
                exact and repair.status == "repaired",
            ),
            (
                f"repair reads < {MAX_REPAIR_COPY_FRACTION:.0%} of the source rows through COPY",
                f"{repair.rows_read_by_copy:,} rows ({fraction:.4%})",
                fraction < MAX_REPAIR_COPY_FRACTION,
            ),
            (
                f"verify of the unchanged table ≤ {MAX_VERIFY_WALL_RATIO}x a full refresh's wall time",
                f"{ratio:.2f}x",
                unchanged.status == "exact" and ratio <= MAX_VERIFY_WALL_RATIO,
            ),
        ]


# --- the parent: damage, run the steps, restore --------------------------------------------------


def _damage_ids(rows: int) -> dict[str, list[int]]:
    """Three disjoint sets of ids spread over the table."""
    stride = max(rows // (3 * DAMAGED_ROWS + 1), 1)
    spread = [stride * (n + 1) for n in range(3 * DAMAGED_ROWS)]
    return {"deleted": spread[0::3], "changed": spread[1::3], "missing": spread[2::3]}


def _in_list(ids: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)


def run_step(stack: LocalStack, table: TableRef, step: str) -> StepResult:
    job = VerifyJob(step, table.schema, table.table, stack.env())
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "bench.verify", step],
            input=json.dumps(asdict(job)),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchPathError("verify step timed out", path=step, timeout_seconds=CHILD_TIMEOUT_SECONDS) from exc
    if finished.returncode != 0:
        tail = "\n".join(finished.stderr.strip().splitlines()[-15:])
        raise BenchPathError(f"verify step failed:\n{tail}", path=step, exit_code=finished.returncode)
    try:
        result = StepResult(**json.loads(finished.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError, TypeError) as exc:
        raise BenchPathError("verify step printed no result", path=step) from exc
    if result.status == "failed":
        raise BenchPathError(f"verify step failed: {result.report.get('error')}", path=step)
    return result


def run_verify_section(stack: LocalStack, table: TableRef, rows: int, progress: TextIO) -> VerifySection:
    """Full refresh, unchanged verify, damage, verify --repair; then the source is restored."""
    section = VerifySection(rows=rows, damaged=_damage_ids(rows))
    with closing(stack.snowflake_connect()) as connection:
        connection.cursor().execute(
            f'CREATE SCHEMA IF NOT EXISTS "{stack.snowflake_database}"."{snowflake_name(table.schema)}"'
        )
    for step in STEPS:
        if step == "verify-repair":
            _damage(stack, table, section.damaged)
        result = run_step(stack, table, step)
        section.steps[step] = result
        progress.write(
            f"  verify section {step:<14} {result.wall_seconds:7.2f} s  {result.rows_read_by_copy:>10,} rows by COPY  "
            f"{result.peak_rss_mb:6.0f} MB peak RSS  ({result.status})\n"
        )
        progress.flush()
    _restore(stack, table, section.damaged)
    return section


def _damage(stack: LocalStack, table: TableRef, damaged: dict[str, list[int]]) -> None:
    with closing(stack.pg_connect()) as connection, connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table.pg_sql} WHERE id IN ({_in_list(damaged['deleted'])})")
        # updated_at untouched: an incremental run would never see these.
        cursor.execute(
            f"UPDATE {table.pg_sql} SET note = 'silently changed' WHERE id IN ({_in_list(damaged['changed'])})"
        )
        connection.commit()
    target = f'"{stack.snowflake_database}"."{snowflake_name(table.schema)}"."{snowflake_name(table.table)}"'
    with closing(stack.snowflake_connect()) as connection:
        connection.cursor().execute(f'DELETE FROM {target} WHERE "ID" IN ({_in_list(damaged["missing"])})')


def _restore(stack: LocalStack, table: TableRef, damaged: dict[str, list[int]]) -> None:
    """The deleted and updated rows as the generator wrote them (the rest of the bench reads them)."""
    with closing(stack.pg_connect()) as connection:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table.pg_sql} WHERE id IN ({_in_list(damaged['changed'])})")
        connection.commit()
        for row_id in sorted(damaged["deleted"] + damaged["changed"]):
            dataset.add_rows(connection, table, row_id, 1)
        dataset.vacuum_analyze(connection, table)


# The phases of a refresh that read the source and stage the files; the rest is the target's load.
SOURCE_SIDE_PHASES = ("plan", "prepare", "extract", "upload")


def render_section(section: VerifySection) -> list[str]:
    """The section's Markdown lines: each step side by side, then the targets."""
    lines = [
        "",
        f"## Verify and repair ({section.rows:,} rows, row_digest on, delete_mode hard)",
        "",
        f"Damage before `verify --repair`: {DAMAGED_ROWS} rows deleted in the source, {DAMAGED_ROWS} updated "
        f"without touching updated_at, {DAMAGED_ROWS} removed from the target. One run of each step.",
        "",
        "| step | status | wall s | source rows read by COPY | peak RSS MB |",
        "|---|---|---:|---:|---:|",
    ]
    for step in STEPS:
        result = section.steps[step]
        lines.append(
            f"| {step} | {result.status} | {result.wall_seconds:.2f} | {result.rows_read_by_copy:,} "
            f"| {result.peak_rss_mb:.0f} |"
        )
    return lines + _refresh_phase_lines(section)


def _refresh_phase_lines(section: VerifySection) -> list[str]:
    """Where the full refresh's time went: the yardstick includes the target's load, which the
    emulator runs on the same cores (in production a warehouse runs it)."""
    phases = section.steps["full-refresh"].report.get("phases") or {}
    if not phases:
        return []
    source_side = sum(float(phases.get(name, 0.0)) for name in SOURCE_SIDE_PHASES)
    verify = section.steps["verify"].wall_seconds
    listed = ", ".join(f"{name} {float(seconds):.2f}" for name, seconds in phases.items())
    return [
        "",
        f"Full refresh phases (s, from its run report): {listed}. Its source side "
        f"({' + '.join(SOURCE_SIDE_PHASES)}) took {source_side:.2f} s; the unchanged verify took "
        f"{verify / source_side:.2f}x that."
        if source_side
        else f"Full refresh phases (s): {listed}.",
    ]


# --- the child: one step, measured ---------------------------------------------------------------


def measure(job: VerifyJob) -> StepResult:
    os.environ.update(job.env)
    from aurora_batch.config import settings_from_env
    from aurora_batch.logic.invocation import run_table
    from aurora_batch.logic.verify.entry import verify_table
    from aurora_batch.wiring import Runtime

    runtime = Runtime(settings_from_env(dict(os.environ)))
    options = job.options()
    started = time.perf_counter()
    if job.step == "full-refresh":
        report = run_table(options.model_copy(update={"full_refresh": True}), runtime).to_dict()
        copied = int(report.get("rows_extracted") or 0)
    else:
        report = verify_table(options, runtime, repair=job.step == "verify-repair").to_dict()
        copied = int(report.get("rows_read_by_copy") or 0)
    wall = time.perf_counter() - started
    status = str(report.get("status"))
    if status == "succeeded":
        status = "refreshed"
    if report.get("error"):
        status = "failed"
    return StepResult(job.step, status, wall, status_bytes("VmHWM") / 1e6, copied, report)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in STEPS:
        print(f"usage: python -m bench.verify {{{'|'.join(STEPS)}}} < job.json", file=sys.stderr)
        return 2
    job = VerifyJob(**json.loads(sys.stdin.read()))
    result = measure(job)
    print(json.dumps(asdict(result), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
