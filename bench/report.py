"""The Markdown report of `make bench`: the measurements, the targets, and the model.

`render` lays out a `BenchReport` (bench/results.py); `model_lines` projects one stream's measured
cost to a Lambda and to a Map of them.
"""

from __future__ import annotations

from aurora_batch.logic.stage import DEFAULT_PART_TARGET_BYTES, DEFAULT_ROW_GROUP_ROWS

from bench.paths import default_extract_batch_bytes
from bench.results import ENGINE_LOCAL, ENGINE_PATHS, MB, PATH_LABELS, BenchConfig, BenchReport, Scale
from bench.verify import render_section

MIB = 1 << 20


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in load)


def _engine_settings(config: BenchConfig, pools: set[str]) -> str:
    batch = config.batch_bytes or default_extract_batch_bytes()
    row_group = config.row_group_rows or DEFAULT_ROW_GROUP_ROWS
    return (
        f"BATCH_SIZE 10,000 rows (the default), driver batch {batch / MIB:g} MiB"
        f"{'' if config.batch_bytes is None else ' (not the default)'}, row group {row_group:,} rows"
        f"{'' if config.row_group_rows is None else ' (not the default)'}, part target "
        f"{DEFAULT_PART_TARGET_BYTES / MIB:g} MiB, zstd; Arrow memory pool: {', '.join(sorted(pools)) or '?'}"
    )


def render(report: BenchReport, command: str) -> str:
    """The Markdown report; `command` is Markdown too (code spans included)."""
    config, machine = report.config, report.machine
    main = report.scales[0]
    pools = {r.memory_pool for s in report.scales for p in ENGINE_PATHS for r in s.results.get(p, [])}
    lines = [
        "# aurora-batch extraction benchmark",
        "",
        f"- Command: {command}",
        f"- Date: {report.started:%Y-%m-%d %H:%M} UTC; measuring took {report.elapsed_seconds:.0f} s; "
        f"load average (1/5/15 min) {_load(report.load_before)} before, {_load(report.load_after)} after",
        f"- Machine: nproc {machine.nproc}, {machine.memory_bytes / 2**30:.1f} GiB memory, "
        f"{machine.cpu_model}; {machine.kernel}",
        f"- PostgreSQL {machine.postgres} (the local stack's: loopback TCP, fsync off); "
        f"Python {machine.python}; {machine.packages}",
        f"- Table `{config.table.qualified}`: 10 columns (bigint id, text, numeric(12,2), two timestamptz, "
        "boolean, jsonb, uuid, double precision, text), filled by `INSERT … SELECT generate_series`, "
        "then `VACUUM ANALYZE`",
        f"- Engine: {_engine_settings(config, pools)}",
        f"- Wall s: the fastest of {_runs(config.repeat)} per path, round-robin "
        f"(naive: {_runs(config.naive_repeat)}), each run a fresh process, its clock started after its "
        "imports and before it connects. Peak RSS: the largest high-water mark (`VmHWM`) of those "
        "processes; RSS at start: resident when the clock started (interpreter and imports). "
        "Client CPU s: user + system of the measuring process; server CPU s: user + system of "
        "PostgreSQL's processes meanwhile (its backends, whatever they served)",
        "- MB/s: the table's CSV text size (the bytes `COPY … (FORMAT csv)` produced at that row count) "
        "divided by the path's wall seconds, so every path is measured against the same bytes. "
        "MB = 10^6 bytes",
        "",
        "| rows | path | wall s | rows/s | MB/s (CSV text) | peak RSS MB | RSS at start MB | client CPU s "
        "| server CPU s | wall / csv floor |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scale in report.scales:
        for path, label in PATH_LABELS.items():
            if path not in scale.results:
                continue
            wall = scale.wall(path)
            cells = [
                f"{scale.rows:,}",
                label,
                f"{wall:.2f}",
                f"{scale.rows / wall:,.0f}",
                f"{scale.csv_bytes / MB / wall:.1f}",
                f"{scale.peak_rss_mb(path):.0f}",
                f"{scale.start_rss_mb(path):.0f}",
                f"{scale.cpu(path):.2f}",
                f"{scale.server_cpu(path):.2f}",
                f"{scale.ratio_to_floor(path):.2f}x",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| rows | on disk MB | CSV text MB | staged Parquet MB | parts |",
        "|---:|---:|---:|---:|---:|",
    ]
    for scale in report.scales:
        staged = scale.results[ENGINE_LOCAL][0]
        lines.append(
            f"| {scale.rows:,} | {scale.disk_bytes / MB:,.0f} | {scale.csv_bytes / MB:,.0f} | "
            f"{staged.output_bytes / MB:,.0f} | {staged.parts} |"
        )
    if report.verify is not None:
        lines += render_section(report.verify)
    lines += ["", "## Targets", "", "| target | measured | result |", "|---|---|---|"]
    lines += [f"| {c.target} | {c.measured} | {'PASS' if c.passed else 'FAIL'} |" for c in report.checks()]
    if len(report.scales) > 1:
        large = report.scales[-1]
        small_rss, large_rss = main.peak_rss_mb(ENGINE_LOCAL), large.peak_rss_mb(ENGINE_LOCAL)
        lines += [
            "",
            f"Memory flatness: engine → local peak RSS {small_rss:.0f} MB at {main.rows:,} rows, "
            f"{large_rss:.0f} MB at {large.rows:,} rows ({large_rss - small_rss:+.0f} MB for "
            f"{large.rows / main.rows:.0f}x the rows).",
        ]
    lines += ["", "Peak RSS of every engine run, in run order (MB):", ""]
    for scale in report.scales:
        for path in ENGINE_PATHS:
            if path in scale.results:
                peaks = ", ".join(f"{r.peak_rss_mb:.0f}" for r in scale.results[path])
                lines.append(f"- {path}, {scale.rows:,} rows: {peaks}")
    lines += model_lines(report.scales[-1])
    lines += ["", f"Overall: {'PASS' if report.passed else 'FAIL'}", ""]
    return "\n".join(lines)


# The model's assumptions (docs/PERFORMANCE.md states why): a 10,240 MB Lambda has 6 vCPUs; the
# Aurora writer the Map reads from has 16 vCPUs (db.r6g.4xlarge) to spare for the extract.
MODEL_LAMBDA_VCPUS = 6
MODEL_MAP_SLICES = 32
MODEL_SERVER_VCPUS = 16


def model_lines(scale: Scale) -> list[str]:
    """Per-stream cost measured with one stream, projected to more CPUs: N streams go N times as
    fast until the client's or the server's CPUs are used up, whichever comes first."""
    if ENGINE_LOCAL not in scale.results:
        return []
    wall, client, server = scale.wall(ENGINE_LOCAL), scale.cpu(ENGINE_LOCAL), scale.server_cpu(ENGINE_LOCAL)
    per_stream = scale.rows / wall
    client_per_stream, server_per_stream = client / wall, server / wall  # vCPUs one stream keeps busy

    def rows_per_second(streams: int, client_vcpus: float, server_vcpus: float) -> float:
        limits = [streams * per_stream]
        if client_per_stream > 0:
            limits.append(client_vcpus / client_per_stream * per_stream)
        if server_per_stream > 0:
            limits.append(server_vcpus / server_per_stream * per_stream)
        return min(limits)

    lambda_rate = rows_per_second(MODEL_LAMBDA_VCPUS, MODEL_LAMBDA_VCPUS, MODEL_SERVER_VCPUS)
    map_rate = rows_per_second(
        MODEL_MAP_SLICES * MODEL_LAMBDA_VCPUS, MODEL_MAP_SLICES * MODEL_LAMBDA_VCPUS, MODEL_SERVER_VCPUS
    )
    saturating = MODEL_SERVER_VCPUS / server_per_stream if server_per_stream > 0 else float("inf")
    return [
        "",
        f"## Model (from engine → local, one stream, {scale.rows:,} rows)",
        "",
        f"- One stream: {per_stream:,.0f} rows/s; it keeps {client_per_stream:.2f} client vCPUs and "
        f"{server_per_stream:.2f} server vCPUs busy ({client / scale.rows * 1e6:.2f} client and "
        f"{server / scale.rows * 1e6:.2f} server CPU s per million rows)",
        f"- A {MODEL_LAMBDA_VCPUS}-vCPU Lambda, {MODEL_LAMBDA_VCPUS} streams, a {MODEL_SERVER_VCPUS}-vCPU writer: "
        f"{lambda_rate:,.0f} rows/s ({lambda_rate / per_stream:.1f}x one stream)",
        f"- A {MODEL_MAP_SLICES}-slice Map of such Lambdas on the same writer: {map_rate:,.0f} rows/s "
        f"({map_rate / per_stream:.1f}x one stream); streams stop scaling at about {saturating:.0f}, "
        f"where the writer's {MODEL_SERVER_VCPUS} vCPUs are busy",
    ]
