"""What crosses the process boundary of a benchmark path: the job in (JSON on stdin) and the
result out (one JSON line on stdout)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from aurora_batch.model import TableRef


@dataclass(frozen=True)
class PgEndpoint:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    server_pid: int | None = None  # the postmaster's pid: the server's CPU time is read from /proc


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str
    prefix: str
    access_key: str  # moto's dummy key, not a secret
    region: str


@dataclass(frozen=True)
class Job:
    path: str
    pg: PgEndpoint
    schema: str
    table: str
    run_id: str
    out_dir: str  # root of the local parts (engine-local)
    s3: S3Endpoint | None = None
    keep_output: bool = False  # False: staged parts are deleted after the clock stops
    # What-ifs for the engine's existing knobs; None keeps the product's default.
    batch_bytes: int | None = None  # Snapshot.copy_batches(batch_bytes=)
    row_group_rows: int | None = None  # Stager(row_group_rows=)
    streams: int = 1  # parallel COPY streams over block ranges of one snapshot (EXTRACT_STREAMS)

    @property
    def ref(self) -> TableRef:
        return TableRef(self.schema, self.table)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        s3 = data.pop("s3")
        return cls(pg=PgEndpoint(**data.pop("pg")), s3=S3Endpoint(**s3) if s3 else None, **data)


@dataclass(frozen=True)
class PathResult:
    path: str
    rows: int
    output_bytes: int
    parts: int
    wall_seconds: float
    cpu_seconds: float  # user + system of this process (the client side only)
    peak_rss_mb: float  # MB = 10^6 bytes
    start_rss_mb: float  # resident when the clock started: the interpreter and the path's imports
    memory_pool: str = ""  # Arrow's allocator, for the engine paths
    server_cpu_seconds: float = 0.0  # user + system of PostgreSQL's processes meanwhile
    checksum: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))
