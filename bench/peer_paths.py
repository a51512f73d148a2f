"""One peer, measured in a process of its own in `.venv-peers` (never the product's virtualenv):
``.venv-peers/bin/python bench/peer_paths.py <peer>`` with the job as JSON on stdin; the result
leaves as one JSON line on stdout. Imports only the standard library and the peers."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote


def _uri(job: dict[str, Any], driver: str = "postgresql") -> str:
    pg = job["pg"]
    return f"{driver}://{quote(pg['user'])}:{quote(pg['password'])}@{pg['host']}:{pg['port']}/{pg['database']}"


def _connectorx(job: dict[str, Any], out: Path) -> None:
    import connectorx  # type: ignore[import-not-found]
    import pyarrow.parquet as pq

    table = connectorx.read_sql(_uri(job), f'SELECT * FROM "{job["schema"]}"."{job["table"]}"', return_type="arrow")
    pq.write_table(table, out / f"{job['table']}.parquet", compression="zstd")


def _dlt(job: dict[str, Any], out: Path, backend: str) -> None:
    import dlt  # type: ignore[import-not-found]
    from dlt.sources.sql_database import sql_table  # type: ignore[import-not-found]

    driver = "postgresql+psycopg2" if backend != "connectorx" else "postgresql"
    source = sql_table(credentials=_uri(job, driver), schema=job["schema"], table=job["table"], backend=backend)
    pipeline = dlt.pipeline(
        pipeline_name=f"peer_{backend}",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(out / "files").as_uri()),
        dataset_name="peer",
    )
    pipeline.run(source, loader_file_format="parquet")


PEERS = {
    "connectorx": _connectorx,
    "dlt-connectorx": lambda job, out: _dlt(job, out, "connectorx"),
    "dlt-pyarrow": lambda job, out: _dlt(job, out, "pyarrow"),
    "dlt-sqlalchemy": lambda job, out: _dlt(job, out, "sqlalchemy"),  # dlt's default backend
}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in PEERS:
        print(f"usage: bench/peer_paths.py {{{'|'.join(PEERS)}}} < job.json", file=sys.stderr)
        return 2
    job = json.loads(sys.stdin.read())
    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    PEERS[sys.argv[1]](job, out)  # type: ignore[no-untyped-call]
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines()
        if line.startswith("VmHWM:")
    )
    print(json.dumps({"peer": sys.argv[1], "wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak / 1e6}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
