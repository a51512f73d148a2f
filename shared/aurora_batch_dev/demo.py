"""`make demo`: replicate a realistic sample database through the local stack of real services
(PostgreSQL 15, moto S3, OpenBao, the Snowflake emulator), then reconcile source and target."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

from aurora_batch_dev.stack import LocalStack

SAMPLE_SCHEMA_SQL = """
CREATE TABLE customers (
    id          bigint PRIMARY KEY,
    email       text NOT NULL,
    full_name   text NOT NULL,
    credit      numeric(12,2) NOT NULL,
    signed_up   timestamptz NOT NULL,
    preferences jsonb,
    is_active   boolean NOT NULL,
    external_id uuid NOT NULL
);
COMMENT ON TABLE customers IS 'People who buy things';
COMMENT ON COLUMN customers.credit IS 'Store credit in USD';

CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers(id),
    status      text NOT NULL,
    total       numeric(12,2) NOT NULL,
    placed_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    shipping    jsonb,
    is_gift     boolean NOT NULL,
    tracking_id uuid
);

CREATE TABLE order_items (
    order_id    bigint NOT NULL REFERENCES orders(id),
    line_no     integer NOT NULL,
    sku         text NOT NULL,
    quantity    integer NOT NULL,
    unit_price  numeric(12,2) NOT NULL,
    attributes  jsonb,
    is_returned boolean NOT NULL,
    item_uuid   uuid NOT NULL,
    added_at    timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
"""

SAMPLE_DATA_SQL = """
INSERT INTO customers
SELECT g,
       'user' || g || '@example.com',
       initcap(md5(g::text)) || E' O''Brien, "Jr."',
       round((random() * 10000)::numeric, 2),
       timestamptz '2023-01-01 00:00:00+00' + (g * interval '37 seconds'),
       CASE WHEN g % 5 = 0 THEN NULL
            ELSE jsonb_build_object('lang', 'en', 'tags', jsonb_build_array('a', g % 7),
                                    'note', E'line1\\nline2 \\u2603') END,
       g % 3 <> 0,
       md5('c' || g)::uuid
FROM generate_series(1, %(customers)s) AS g;

INSERT INTO orders
SELECT g,
       1 + (g * 7919) %% %(customers)s,
       (ARRAY['new', 'paid', 'shipped', 'delivered', 'returned'])[1 + g %% 5],
       round((random() * 500)::numeric, 2),
       timestamptz '2024-01-01 00:00:00+00' + (g * interval '13 seconds'),
       timestamptz '2024-06-01 00:00:00+00' + (g * interval '11 seconds'),
       jsonb_build_object('city', 'City ' || (g %% 100), 'express', g %% 2 = 0),
       g %% 11 = 0,
       CASE WHEN g %% 4 = 0 THEN NULL ELSE md5('o' || g)::uuid END
FROM generate_series(1, %(orders)s) AS g;

INSERT INTO order_items
SELECT o.id,
       l.line_no,
       'SKU-' || lpad(((o.id * l.line_no) %% 5000)::text, 5, '0'),
       1 + (o.id + l.line_no) %% 4,
       round((1 + random() * 99)::numeric, 2),
       jsonb_build_object('size', (ARRAY['S', 'M', 'L'])[1 + l.line_no %% 3]),
       (o.id + l.line_no) %% 17 = 0,
       md5('i' || o.id || '-' || l.line_no)::uuid,
       o.placed_at + l.line_no * interval '1 minute'
FROM orders AS o CROSS JOIN generate_series(1, 3) AS l(line_no);
"""

TABLES = ("customers", "orders", "order_items")
RECONCILE = {
    "customers": ("credit", "CREDIT"),
    "orders": ("total", "TOTAL"),
    "order_items": ("unit_price", "UNIT_PRICE"),
}


def sample_sizes(rows: int) -> dict[str, int]:
    """Split the requested total across the three tables (items are three per order)."""
    customers = max(10, rows // 6)
    orders = max(10, (rows - customers) // 4)
    return {"customers": customers, "orders": orders}


def create_sample_database(stack: LocalStack, rows: int) -> None:
    sizes = sample_sizes(rows)
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(SAMPLE_SCHEMA_SQL)
        cursor.execute(
            SAMPLE_DATA_SQL.replace("%(customers)s", str(sizes["customers"]))
            .replace("%(orders)s", str(sizes["orders"]))
            .replace("%%", "%")
        )
        cursor.execute("ANALYZE")
        connection.commit()


def reconcile(stack: LocalStack) -> list[dict[str, Any]]:
    """Per table: count and a money total on both sides."""
    results = []
    snow = stack.snowflake_connect()
    try:
        with stack.pg_connect() as connection, connection.cursor() as cursor:
            for table in TABLES:
                source_column, target_column = RECONCILE[table]
                # SQL from names from the emulator's own catalog (bandit B608)
                cursor.execute(f"SELECT count(*), coalesce(sum({source_column}), 0) FROM {table}")  # noqa: S608  # nosec B608
                source_rows, source_sum = cursor.fetchone() or (0, 0)
                target = snow.cursor()
                target.execute(
                    # SQL from names from the emulator's own catalog (bandit B608)
                    f'SELECT COUNT(*), COALESCE(SUM("{target_column}"), 0)::NUMBER(38,2) FROM "{table.upper()}"'  # noqa: S608  # nosec B608
                )
                target_rows, target_sum = target.fetchone() or (0, 0)
                results.append(
                    {
                        "table": table,
                        "source_rows": int(source_rows),
                        "target_rows": int(target_rows),
                        "source_sum": str(Decimal(source_sum)),
                        "target_sum": str(Decimal(target_sum)),
                        "equal": int(source_rows) == int(target_rows) and Decimal(source_sum) == Decimal(target_sum),
                    }
                )
    finally:
        snow.close()
    return results


def _print_reports(reports: Sequence[dict[str, Any]], out: TextIO) -> None:
    from aurora_batch.terminal.views import summary_view

    out.write("\n".join(summary_view(reports).lines()) + "\n")


def _print_reconciliation(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    header = f"{'table':<14} {'source rows':>12} {'target rows':>12} {'source sum':>16} {'target sum':>16}  result"
    out.write("\nReconciliation (source snapshot vs Snowflake target)\n" + header + "\n" + "-" * len(header) + "\n")
    for row in rows:
        verdict = "equal" if row["equal"] else "DIFFERENT"
        out.write(
            f"{row['table']:<14} {row['source_rows']:>12,} {row['target_rows']:>12,} "
            f"{row['source_sum']:>16} {row['target_sum']:>16}  {verdict}\n"
        )


def run_demo(rows: int = 120_000, out: TextIO | None = None) -> int:
    from aurora_batch.cli import _configure_logging
    from aurora_batch.config import settings_from_env, tables_for_event
    from aurora_batch.logic.invocation import run_table
    from aurora_batch.wiring import Runtime

    out = out or sys.stdout
    started = time.monotonic()
    out.write("Starting the local stack (PostgreSQL 15, moto, OpenBao, Snowflake emulator)...\n")
    with LocalStack() as stack:
        out.write(f"Stack ready in {time.monotonic() - started:.1f}s. Creating the sample database...\n")
        create_sample_database(stack, rows)
        # The demo process is the stack's shell: boto3 reads its credentials from here too.
        os.environ.update(stack.env())
        # The sample tables are configuration: an event (here, the loop below) only names them.
        os.environ["TABLES"] = json.dumps({f"public.{table}": {} for table in TABLES})
        settings = settings_from_env()
        _configure_logging(settings)  # the demo prints its own summary; logs stay quiet on stderr
        runtime = Runtime(settings)
        reports = []
        for table in TABLES:
            (options,) = tables_for_event(runtime.settings, {"schema_name": "public", "table_name": table})
            report = run_table(options, runtime).to_dict()
            reports.append(report)
        out.write("\n")
        _print_reports(reports, out)
        results = reconcile(stack)
        _print_reconciliation(results, out)
    failed = [r for r in reports if r["status"] != "succeeded"]
    for report in failed:
        error = report.get("error") or {}
        out.write(f"\n{report['table']} failed: {error.get('message')}\n")
    differing = [r["table"] for r in results if not r["equal"]]
    if failed or differing:
        out.write(f"\nDemo FAILED: {', '.join(differing) or 'runs failed'}\n")
        return 1
    out.write(f"\nDemo succeeded in {time.monotonic() - started:.1f}s: every table is equal on both sides.\n")
    return 0
