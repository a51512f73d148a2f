"""`make bench-peers`: the engine against its peers on the same table, in the same run.

Starts the local stack, builds the bench table at --rows rows, then runs, round-robin and --repeat
times, the csv floor and the engine (each in a process of its own, as `make bench` does) and every
peer in `.venv-peers` (bench/peer_paths.py), so the product never depends on a peer. Each output
is read back and checked against PostgreSQL: row count, sum of the keys, NULL count per column;
an output that lost rows is flagged. Writes bench/results/peers.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from aurora_batch.model import TableRef
from aurora_batch_dev import LocalStack

from bench.paths import REPO_ROOT, run_in_child
from bench.run import ENGINE_LOCAL, FLOOR, BenchConfig, Runner, prepare_scale

PEERS_PYTHON = REPO_ROOT / ".venv-peers" / "bin" / "python"
PEERS = ("connectorx", "dlt-connectorx", "dlt-pyarrow", "dlt-sqlalchemy")
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "peers.md"
# The engine at least this much faster than the fastest peer, and than dlt's default backend.
MIN_SPEEDUP_OVER_FASTEST_PEER = 1.5
MIN_SPEEDUP_OVER_DLT_DEFAULT = 10.0
DLT_DEFAULT = "dlt-sqlalchemy"


@dataclass(frozen=True)
class Facts:
    rows: int
    key_sum: int
    nulls: dict[str, int]


@dataclass
class Measured:
    path: str
    walls: list[float]
    cpu: float
    peak_rss_mb: float
    facts: Facts | None = None

    @property
    def wall(self) -> float:
        return min(self.walls)


def source_facts(stack: LocalStack, table: TableRef) -> Facts:
    with closing(stack.pg_connect()) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (table.schema, table.table),
        )
        columns = [str(row[0]) for row in cursor.fetchall()]
        counts = ", ".join(f'count("{c}")' for c in columns)
        cursor.execute(f"SELECT count(*), sum(id), {counts} FROM {table.pg_sql}")
        row = cursor.fetchone()
    assert row is not None
    rows = int(row[0])
    return Facts(rows, int(row[1] or 0), {c: rows - int(n) for c, n in zip(columns, row[2:], strict=True)})


def output_facts(files: list[Path], columns: Sequence[str]) -> Facts:
    """What a path's Parquet output holds: its rows, the sum of its ids, the NULLs of each column."""
    tables = [pq.read_table(f) for f in files]
    if not tables:
        return Facts(0, 0, {})
    table = pa.concat_tables(tables, promote_options="permissive")
    names = {name.lower(): name for name in table.column_names}
    nulls = {c: table[names[c]].null_count for c in columns if c in names}
    return Facts(table.num_rows, int(pc.sum(table[names["id"]]).as_py() or 0), nulls)


def run_peer(peer: str, job: dict[str, Any]) -> dict[str, Any]:
    finished = subprocess.run(
        [str(PEERS_PYTHON), str(REPO_ROOT / "bench" / "peer_paths.py"), peer],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=3600,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{peer} failed: {finished.stderr.strip().splitlines()[-5:]}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def measure(
    stack: LocalStack, config: BenchConfig, peers: Sequence[str], progress: Any
) -> tuple[Facts, list[Measured]]:
    main = prepare_scale(stack, config.table, 0, config.rows, progress)
    expected = source_facts(stack, config.table)
    runner = Runner(stack, config, progress)
    runner.warm_up()
    pg = stack.pg
    measured = {path: Measured(path, [], 0.0, 0.0) for path in (FLOOR, ENGINE_LOCAL, *peers)}
    for round_number in range(config.repeat):
        for path in (FLOOR, ENGINE_LOCAL):
            keep = path == ENGINE_LOCAL and round_number == 0
            job = runner.job(path, keep_output=keep)
            result = run_in_child(job)
            main.add(result)
            entry = measured[path]
            entry.walls.append(result.wall_seconds)
            entry.cpu, entry.peak_rss_mb = result.cpu_seconds, max(entry.peak_rss_mb, result.peak_rss_mb)
            if keep:
                entry.facts = output_facts(sorted(Path(job.out_dir).rglob("*.parquet")), list(expected.nulls))
        for peer in peers:
            out_dir = stack.root_dir / "bench-peers" / f"{peer}-{round_number}"
            job_data: dict[str, Any] = {
                # on stdin only, never in argv or the environment
                "pg": {
                    "host": pg.host,
                    "port": pg.port,
                    "database": pg.database,
                    "user": pg.user,
                    "password": pg.password,
                },
                "schema": config.table.schema,
                "table": config.table.table,
                "out_dir": str(out_dir),
            }
            peer_result = run_peer(peer, job_data)
            entry = measured[peer]
            entry.walls.append(float(peer_result["wall_seconds"]))
            entry.cpu, entry.peak_rss_mb = (
                float(peer_result["cpu_seconds"]),
                max(entry.peak_rss_mb, peer_result["peak_rss_mb"]),
            )
            if round_number == 0:
                files = [
                    f for f in out_dir.rglob("*.parquet") if "_dlt" not in f.as_posix() and "pipelines" not in f.parts
                ]
                entry.facts = output_facts(sorted(files), list(expected.nulls))
            progress.write(f"  {peer:<16} {peer_result['wall_seconds']:8.2f} s\n")
            progress.flush()
    return expected, list(measured.values())


def render(expected: Facts, measured: list[Measured], command: str, rows: int) -> str:
    by_path = {m.path: m for m in measured}
    floor, engine = by_path[FLOOR].wall, by_path[ENGINE_LOCAL].wall
    lines = [
        "# aurora-batch against its peers",
        "",
        f"- Command: {command}",
        f"- Table: the `make bench` table at {rows:,} rows; every output is Parquet on local disk",
        "- Wall s: the fastest of the runs per path, round-robin, each a fresh process; the peers run in "
        "`.venv-peers` (bench/peers/requirements.txt)",
        "- Checked against PostgreSQL: row count, sum of `id`, NULL count of every column",
        "",
        "| path | wall s | / csv floor | engine speed-up | client CPU s | peak RSS MB | rows | sum(id) "
        "| NULLs | check |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    lost: list[str] = []
    for m in measured:
        facts = m.facts
        if facts is None:
            check, row_cells = "not read back (no output)", ["", "", ""]
        else:
            wrong_nulls = [c for c, n in expected.nulls.items() if facts.nulls.get(c) != n]
            if facts.rows < expected.rows:
                lost.append(m.path)
            check = (
                "LOST ROWS"
                if facts.rows < expected.rows
                else "ok"
                if (facts.rows, facts.key_sum, wrong_nulls) == (expected.rows, expected.key_sum, [])
                else f"differs: {', '.join(wrong_nulls) or 'count or sum'}"
            )
            row_cells = [f"{facts.rows:,}", f"{facts.key_sum:,}", "ok" if not wrong_nulls else ", ".join(wrong_nulls)]
        lines.append(
            f"| {m.path} | {m.wall:.2f} | {m.wall / floor:.2f} | {m.wall / engine:.2f}x | {m.cpu:.2f} | "
            f"{m.peak_rss_mb:.0f} | {' | '.join(row_cells)} | {check} |"
        )
    peers = [m for m in measured if m.path not in (FLOOR, ENGINE_LOCAL)]
    lines += ["", "| target | measured | result |", "|---|---|---|"]
    if peers:
        fastest = min(peers, key=lambda m: m.wall)
        speedup = fastest.wall / engine
        lines.append(
            f"| engine ≥ {MIN_SPEEDUP_OVER_FASTEST_PEER}x faster than the fastest peer ({fastest.path}) | "
            f"{speedup:.2f}x | {'PASS' if speedup >= MIN_SPEEDUP_OVER_FASTEST_PEER else 'FAIL'} |"
        )
    if DLT_DEFAULT in by_path:
        speedup = by_path[DLT_DEFAULT].wall / engine
        lines.append(
            f"| engine ≥ {MIN_SPEEDUP_OVER_DLT_DEFAULT:.0f}x faster than dlt's default backend | {speedup:.1f}x | "
            f"{'PASS' if speedup >= MIN_SPEEDUP_OVER_DLT_DEFAULT else 'FAIL'} |"
        )
    lines += ["", f"Outputs that lost rows: {', '.join(lost) if lost else 'none'}", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, of: " + ", ".join(PEERS))
    parser.add_argument("--results", type=Path, default=RESULTS_PATH)
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    peers = [p for p in args.peers.split(",") if p]
    if not PEERS_PYTHON.exists():
        print("bench-peers: .venv-peers is missing; `make bench-peers` creates it", file=sys.stderr)
        return 2
    config = BenchConfig(rows=args.rows, large_rows=0, repeat=args.repeat)
    with LocalStack() as stack:
        expected, measured = measure(stack, config, peers, sys.stderr)
    text = render(expected, measured, f"`{' '.join(['.venv/bin/python -m bench.peers', *arguments])}`", args.rows)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
