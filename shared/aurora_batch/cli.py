"""The `aurora-batch` command: mirrors each Lambda with the same configuration.

Exit codes (docs/CONFIGURATION.md#cli-exit-codes):
  0  succeeded
  1  the run failed (the reason is printed on one line)
  2  bad input or configuration; nothing was changed
  3  the table is locked by another run; nothing was changed
  4  the run stopped at a time limit and must be continued (only with --no-continue)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from aurora_batch.errors import AuroraBatchError, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED, EXIT_CONTINUED = 0, 1, 2, 3, 4
_STATUS_EXIT = {
    "succeeded": EXIT_OK,
    "failed": EXIT_FAILED,
    "locked": EXIT_LOCKED,
    "continued": EXIT_CONTINUED,
}


class ProgressBar:
    """Rows, MB and rate on one terminal line, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._phase = "start"
        self._started = time.monotonic()
        self._drawn = 0.0
        self._rows = 0
        self._bytes = 0

    def phase(self, name: str) -> None:
        self._phase = name
        self._draw(force=True)

    def rows(self, rows: int, staged_bytes: int) -> None:
        self._rows, self._bytes = rows, staged_bytes
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        elapsed = max(now - self._started, 1e-6)
        rate = self._rows / elapsed
        spinner = "|/-\\"[int(elapsed * 8) % 4]
        line = (
            f"\r{spinner} {self._label} [{self._phase:<8}] {self._rows:>12,} rows "
            f"{self._bytes / 1e6:>9.1f} MB {rate:>12,.0f} rows/s"
        )
        self._stream.write(line)
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")
        self._stream.flush()


def _summary_table(reports: Sequence[dict[str, Any]]) -> str:
    header = f"{'table':<28} {'status':<10} {'rows':>10} {'MB staged':>10} {'seconds':>8} {'rows/s':>10}"
    lines = [header, "-" * len(header)]
    for report in reports:
        seconds = float(report.get("duration_seconds") or 0)
        rows = int(report.get("rows_loaded") or 0)
        rate = rows / seconds if seconds > 0 else 0.0
        lines.append(
            f"{report['table']:<28} {report['status']:<10} {rows:>10,} "
            f"{int(report.get('bytes_staged') or 0) / 1e6:>10.1f} {seconds:>8.2f} {rate:>10,.0f}"
        )
    return "\n".join(lines)


def _one_line_reason(report: dict[str, Any]) -> str:
    error = report.get("error") or {}
    return f"{report.get('table')}: {error.get('error', 'error')}: {error.get('message', 'run failed')}"


def _configure_logging(settings: Any) -> None:
    """Log lines go to stderr (stdout is for the report), WARNING and up unless LOG_LEVEL is set."""
    from aurora_batch.observability import set_log_level, set_log_stream

    set_log_stream(sys.stderr)
    set_log_level(settings.log_level if "log_level" in settings.model_fields_set else "WARNING")


def _runtime() -> Any:
    from aurora_batch.config import settings_from_env
    from aurora_batch.wiring import Runtime

    settings = settings_from_env()
    _configure_logging(settings)
    return Runtime(settings)


def _ops_runtime() -> Any:
    """What cleanup and watermark need (S3 and the state table): no Vault or Snowflake settings."""
    from aurora_batch.config import ops_settings_from_env
    from aurora_batch.wiring_light import OpsRuntime

    settings = ops_settings_from_env()
    _configure_logging(settings)
    return OpsRuntime(settings)


def _replicate_event(args: argparse.Namespace) -> dict[str, Any]:
    from aurora_batch.model import TableRef

    event: dict[str, Any] = {}
    if args.table:
        ref = TableRef.parse(args.table)
        event.update(schema_name=ref.schema, table_name=ref.table)
    for key in ("mode", "incremental_column", "last_value"):
        if getattr(args, key) is not None:
            event[key] = getattr(args, key)
    if args.full_refresh:
        event["full_refresh"] = True
    return event


def _budget(seconds: float | None) -> Callable[[], float] | None:
    """An invocation-like time limit that starts now."""
    if seconds is None:
        return None
    started = time.monotonic()
    return lambda: seconds - (time.monotonic() - started)


def _replicate_table(options: Any, runtime: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run one table; with a time budget, continue in-process as the Lambda would re-invoke itself."""
    from aurora_batch.logic.invocation import run_table, table_event

    reports: list[dict[str, Any]] = []
    interactive = sys.stderr.isatty() and not args.json
    while True:
        bar = ProgressBar(sys.stderr, options.ref.qualified) if interactive else None
        try:
            report = run_table(options, runtime, remaining_seconds=_budget(args.time_budget), progress=bar).to_dict()
        finally:
            if bar is not None:
                bar.close()
        reports.append(report)
        if report["status"] != "continued" or args.no_continue:
            return reports
        # A continuation is the same table without last_value, which applies to one run only.
        options = type(options)(**table_event(options, continuation=True))


def _exit_code(reports: list[dict[str, Any]]) -> int:
    final = [r for r in reports if r["status"] != "continued"] or reports
    for report in final:
        if report["status"] in ("failed", "locked"):
            print(
                f"{'error' if report['status'] == 'failed' else 'locked'}: {_one_line_reason(report)}", file=sys.stderr
            )
    failed = [r for r in final if r["status"] == "failed"]
    if failed:
        return EXIT_CONFIG if (failed[0].get("error") or {}).get("error") == "ConfigError" else EXIT_FAILED
    return max((_STATUS_EXIT.get(r["status"], EXIT_FAILED) for r in final), default=EXIT_OK)


def cmd_replicate(args: argparse.Namespace) -> int:
    from aurora_batch.config import tables_for_event

    runtime = _runtime()
    reports: list[dict[str, Any]] = []
    for options in tables_for_event(runtime.settings, _replicate_event(args)):
        reports.extend(_replicate_table(options, runtime, args))
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, default=str, indent=2))
    else:
        print(_summary_table(reports))
    return _exit_code(reports)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from aurora_batch.logic.cleanup import CleanupRequest, run_cleanup

    runtime = _ops_runtime()
    event = {"older_than_hours": args.older_than_hours, "dry_run": args.dry_run}
    if args.table:
        event["table"] = args.table
    request = CleanupRequest.from_event(event)
    staging = runtime.staging()
    try:
        result = run_cleanup(request, staging, runtime.state, runtime.settings.staging_prefix)
    finally:
        staging.close()
    print(json.dumps(result, default=str, indent=2))
    return EXIT_OK


def cmd_watermark(args: argparse.Namespace) -> int:
    import getpass

    from aurora_batch.logic.watermark_admin import AdminRequest, handle_admin_request

    runtime = _ops_runtime()
    event: dict[str, Any] = {"action": args.action}
    for key in ("table", "value", "type", "column", "reason"):
        if getattr(args, key, None) is not None:
            event[key] = getattr(args, key)
    if args.action in ("set", "reset", "unlock"):
        event["actor"] = f"cli:{getpass.getuser()}"
        event["dry_run"] = bool(args.dry_run)
        event["force"] = bool(args.force)
    request = AdminRequest.from_event(event)
    result = handle_admin_request(request, runtime.state, lambda: datetime.now(UTC))
    print(json.dumps(result, default=str, indent=2))
    return EXIT_OK


def cmd_stack(args: argparse.Namespace) -> int:
    from aurora_batch.devstack import run_stack_up

    return int(run_stack_up())


def cmd_demo(args: argparse.Namespace) -> int:
    from aurora_batch.devstack.demo import run_demo

    return run_demo(rows=args.rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aurora-batch", description="Aurora PostgreSQL to Snowflake batch replication"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    replicate = commands.add_parser("replicate", help="replicate one table (or TABLES) now")
    replicate.add_argument("--table", help="schema.table (default: TABLE_NAME or TABLES)")
    replicate.add_argument("--mode", choices=["full", "incremental"])
    replicate.add_argument("--incremental-column", dest="incremental_column")
    replicate.add_argument("--last-value", dest="last_value", help="lower bound for this run only")
    replicate.add_argument("--full-refresh", action="store_true", help="reload the whole table this run")
    replicate.add_argument("--time-budget", type=float, help="seconds per invocation, as a Lambda would have")
    replicate.add_argument("--no-continue", action="store_true", help="stop at the time budget instead of looping")
    replicate.add_argument("--json", action="store_true", help="print the run report as JSON")
    replicate.set_defaults(func=cmd_replicate)

    cleanup = commands.add_parser("cleanup", help="delete old staged objects (never those of a live run)")
    cleanup.add_argument("--older-than-hours", type=float, default=24.0)
    cleanup.add_argument("--dry-run", action="store_true")
    cleanup.add_argument("--table", help="schema.table: only this table's files")
    cleanup.set_defaults(func=cmd_cleanup)

    watermark = commands.add_parser("watermark", help="inspect or change a table's watermark")
    actions = watermark.add_subparsers(dest="action", required=True)
    actions.add_parser("list")
    get = actions.add_parser("get")
    get.add_argument("table")
    for name in ("set", "reset", "unlock"):
        action = actions.add_parser(name)
        action.add_argument("table")
        if name == "set":
            action.add_argument("value")
            action.add_argument("--type", choices=["timestamp", "timestamptz", "date", "integer"])
            action.add_argument("--column")
        action.add_argument("--reason", required=True)
        action.add_argument("--dry-run", action="store_true")
        action.add_argument("--force", action="store_true")
    watermark.set_defaults(func=cmd_watermark)

    stack = commands.add_parser("stack", help="the local stack of real services")
    stack_actions = stack.add_subparsers(dest="stack_action", required=True)
    stack_actions.add_parser("up", help="start it, print its environment, run until interrupted")
    stack.set_defaults(func=cmd_stack)

    demo = commands.add_parser("demo", help="replicate a sample database through the local stack")
    demo.add_argument("--rows", type=int, default=120_000, help="rows in all, across the three tables")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AuroraBatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`aurora-batch replicate --json | head`): nothing left to say.
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
