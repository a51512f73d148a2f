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
from typing import Any

from aurora_batch.cli_output import print_json, print_tables, progress_display, verify_display, watermark_views
from aurora_batch.errors import AuroraBatchError, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED, EXIT_CONTINUED = 0, 1, 2, 3, 4
_STATUS_EXIT = {
    "succeeded": EXIT_OK,
    "failed": EXIT_FAILED,
    "locked": EXIT_LOCKED,
    "continued": EXIT_CONTINUED,
}
# Commands of the development package (aurora_batch_dev), present when it is installed.
DEV_COMMANDS = ("stack", "demo")
DEV_PACKAGE_MISSING = "the stack and demo commands need the development package (pip install -e '.[dev]')"


def _one_line_reason(report: dict[str, Any]) -> str:
    error = report.get("error") or {}
    return f"{report.get('table')}: {error.get('error', 'error')}: {error.get('message', 'run failed')}"


def _configure_logging(settings: Any) -> None:
    """Log lines go to stderr (stdout is for the report), WARNING and up unless LOG_LEVEL is set."""
    from aurora_batch.observability import set_log_level, set_log_stream

    set_log_stream(sys.stderr)
    set_log_level(settings.log_level if "log_level" in settings.model_fields_set else "WARNING")


def _runtime() -> Any:
    from aurora_batch.wiring import Runtime, load_settings

    settings = load_settings()
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


def _replicate_table(options: Any, runtime: Any, args: argparse.Namespace, display: Any) -> list[dict[str, Any]]:
    """Run one table; with a time budget, continue in-process as the Lambda would re-invoke itself."""
    from aurora_batch.logic.invocation import continued_options, run_table

    reports: list[dict[str, Any]] = []
    while True:
        listener = display.table(options.ref.qualified) if display is not None else None
        report = run_table(options, runtime, remaining_seconds=_budget(args.time_budget), progress=listener).to_dict()
        if listener is not None:
            listener.finish(report["status"])
        reports.append(report)
        if report["status"] != "continued" or args.no_continue:
            return reports
        # A continuation is the same table without last_value, which applies to one run only.
        options = continued_options(options)


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


def _dry_run(tables: list[Any], runtime: Any) -> int:
    """Print each table's plan; change nothing. Exit 2 when a plan is refused for its input."""
    from aurora_batch.logic.invocation import plan_run

    plans = [plan_run(options, runtime) for options in tables]
    print(json.dumps(plans[0] if len(plans) == 1 else plans, default=str, indent=2))
    failed = [p for p in plans if p["status"] == "failed"]
    for plan in failed:
        print(f"error: {_one_line_reason(plan)}", file=sys.stderr)
    if failed:
        return EXIT_CONFIG if any((p.get("error") or {}).get("error") == "ConfigError" for p in failed) else EXIT_FAILED
    return EXIT_OK


def cmd_replicate(args: argparse.Namespace) -> int:
    from aurora_batch.config import tables_for_event

    runtime = _runtime()
    if args.dry_run:
        return _dry_run(tables_for_event(runtime.settings, _replicate_event(args)), runtime)
    reports: list[dict[str, Any]] = []
    tables = tables_for_event(runtime.settings, _replicate_event(args))
    with progress_display(args) as display:
        for options in tables:
            reports.extend(_replicate_table(options, runtime, args, display))
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, default=str, indent=2))
    else:
        from aurora_batch.terminal.views import summary_view

        print_tables([summary_view(reports)])
    return _exit_code(reports)


def cmd_verify(args: argparse.Namespace) -> int:
    from aurora_batch.logic.verify.entry import verify_options, verify_table
    from aurora_batch.model import TableRef
    from aurora_batch.terminal.verify_view import verify_view

    runtime = _runtime()
    ref = TableRef.parse(args.table)
    options = verify_options(runtime, ref.table, ref.schema)
    with verify_display(args, options.ref.qualified) as progress:
        report = verify_table(options, runtime, repair=args.repair, progress=progress).to_dict()
    if args.json:
        print_json(report)
    else:
        print_tables([verify_view(report)])
    if report["status"] in ("failed", "locked"):
        return _exit_code([report])
    return EXIT_OK if report["status"] in ("exact", "repaired") else EXIT_FAILED


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
    if args.json:
        print_json(result)
    else:
        from aurora_batch.terminal.views import cleanup_view

        print_tables([cleanup_view(result)])
    return EXIT_OK


def cmd_watermark(args: argparse.Namespace) -> int:
    from aurora_batch.logic.watermark_admin import AdminRequest, handle_admin_request

    runtime = _ops_runtime()
    event: dict[str, Any] = {"action": args.action}
    for key in ("table", "value", "type", "column", "reason"):
        if getattr(args, key, None) is not None:
            event[key] = getattr(args, key)
    if args.action in ("set", "reset", "unlock"):
        # The audit's actor is who the AWS credentials are (STS), not a name the operator types.
        event["actor"] = runtime.caller_arn()
        event["dry_run"] = bool(args.dry_run)
        event["force"] = bool(args.force)
    request = AdminRequest.from_event(event)
    result = handle_admin_request(request, runtime.state, lambda: datetime.now(UTC))
    if args.json:
        print_json(result)
    else:
        print_tables(watermark_views(result))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from aurora_batch.config import tables_for_event
    from aurora_batch.logic.status import table_statuses

    runtime = _runtime()
    settings = runtime.settings
    configured = tables_for_event(settings, {}) if settings.tables or settings.default_options.get("table_name") else []
    now = datetime.now(UTC)
    statuses = table_statuses(
        [(options.ref.qualified, options.mode.value) for options in configured],
        runtime.state.list(),
        now,
        schedules=_schedules(args.schedule),
        late_after_seconds=args.late_after,
    )
    if args.json:
        print_json({"at": now.isoformat(), "tables": [status.to_dict() for status in statuses]})
    else:
        from aurora_batch.terminal.views import status_view

        print_tables([status_view(statuses, now)])
    return EXIT_OK


def _schedules(given: Sequence[str] | None) -> dict[str, str]:
    """`schema.table=rate(1 hour)` options -> {table: expression}."""
    from aurora_batch.model import TableRef

    schedules: dict[str, str] = {}
    for item in given or ():
        table, separator, expression = item.partition("=")
        if not separator or not expression.strip():
            raise ConfigError(f"--schedule takes schema.table=EXPRESSION, not {item!r}", field="schedule")
        schedules[TableRef.parse(table.strip()).qualified] = expression.strip()
    return schedules


def cmd_development_package_missing(args: argparse.Namespace) -> int:
    print(f"error: {DEV_PACKAGE_MISSING}", file=sys.stderr)
    return EXIT_CONFIG


def _add_development_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`stack` and `demo` come from the development package; without it (or the dev extra's
    dependencies, which its services run on) they only say what to install."""
    try:
        from aurora_batch_dev.commands import missing_dependencies, register_commands
    except ModuleNotFoundError as exc:
        if exc.name not in ("aurora_batch_dev", "aurora_batch_dev.commands"):
            raise
    else:
        if not missing_dependencies():
            register_commands(commands)
            return
    for name in DEV_COMMANDS:
        # No option prefix: every argument (`up`, `--rows 5`, `--help`) is taken as is, so all end here.
        stub = commands.add_parser(
            name, help="needs the development package (pip install -e '.[dev]')", prefix_chars="\0", add_help=False
        )
        stub.add_argument("arguments", nargs=argparse.REMAINDER)
        stub.set_defaults(func=cmd_development_package_missing)


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
    replicate.add_argument("--dry-run", action="store_true", help="print the plan (DDL, bounds, rows); change nothing")
    replicate.set_defaults(func=cmd_replicate)

    cleanup = commands.add_parser("cleanup", help="delete old staged objects (never those of a live run)")
    cleanup.add_argument("--older-than-hours", type=float, default=24.0)
    cleanup.add_argument("--dry-run", action="store_true")
    cleanup.add_argument("--table", help="schema.table: only this table's files")
    cleanup.add_argument("--json", action="store_true", help="print the result as JSON")
    cleanup.set_defaults(func=cmd_cleanup)

    watermark = commands.add_parser("watermark", help="inspect or change a table's watermark")
    actions = watermark.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list")
    listing.add_argument("--json", action="store_true", help="print the states as JSON")
    get = actions.add_parser("get")
    get.add_argument("table")
    get.add_argument("--json", action="store_true", help="print the state, runs and changes as JSON")
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
        action.add_argument("--json", action="store_true", help="print the change as JSON")
    watermark.set_defaults(func=cmd_watermark)

    status = commands.add_parser("status", help="every table at a glance: last run, lag, lease, next run")
    status.add_argument(
        "--late-after",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="a table whose watermark (or last successful run) is older is late (default 3600)",
    )
    status.add_argument(
        "--schedule",
        action="append",
        metavar="TABLE=EXPRESSION",
        help="a table's rate(...) or cron(...) schedule, to show its next run (repeatable)",
    )
    status.add_argument("--json", action="store_true", help="print the statuses as JSON")
    status.set_defaults(func=cmd_status)

    verify = commands.add_parser("verify", help="compare a table with its source by digests; --repair fixes drift")
    verify.add_argument("--table", required=True, help="schema.table")
    verify.add_argument("--repair", action="store_true", help="re-read and merge the keys that differ")
    verify.add_argument("--json", action="store_true", help="print the verify report as JSON")
    verify.set_defaults(func=cmd_verify)

    _add_development_commands(commands)
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
