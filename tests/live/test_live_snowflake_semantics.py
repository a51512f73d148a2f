"""Against a real Snowflake account (opt-in, like test_live_snowflake.py): the points where Snowflake
is stricter than the emulator's DuckDB. A timestamp, a timestamptz and a time keep their values
(Parquet logical types, session TIMEZONE), json with duplicate keys loads with the last value, and a
NOT NULL column dropped from the source stops being required."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

import pytest
from aurora_batch.config import TableOptions
from aurora_batch.wiring import Runtime

from tests.support.live_snowflake import LiveSnowflake, live_environment, skip_reason
from tests.support.runs import replicate

_CONFIGURED, _MISSING = live_environment()
pytestmark = [
    pytest.mark.snowflake_live,
    pytest.mark.skipif(_CONFIGURED is None, reason=skip_reason(_MISSING)),
]

EXPECTED = {
    1: (datetime(2024, 7, 1, 23, 30, 0, 1), datetime(2024, 7, 1, 21, 30, 0, 1, tzinfo=UTC), time(23, 30, 0, 1), 2),
    2: (datetime(2024, 1, 15, 8), datetime(2024, 1, 15, 16, tzinfo=UTC), time(0, 0), 4),
}


@pytest.mark.parametrize("staging_format", ["parquet", "csv"])
def test_times_duplicate_json_keys_and_a_dropped_not_null_column_on_snowflake(
    stack: Any, pg_schema: str, live: LiveSnowflake, live_schema: str, live_runtime: Runtime, staging_format: str
) -> None:
    table = f'"{pg_schema}".moments'

    def source(statement: str) -> None:
        with stack.pg_connect() as connection, connection.cursor() as cursor:
            cursor.execute(statement.replace("{t}", table))
            connection.commit()

    source(
        "CREATE TABLE {t} (id integer PRIMARY KEY, at_local timestamp, at_instant timestamptz, at_time time, "
        "doc json, legacy text NOT NULL)"
    )
    source(
        "INSERT INTO {t} VALUES "
        "(1, '2024-07-01 23:30:00.000001', '2024-07-01 23:30:00.000001+02', '23:30:00.000001', "
        """'{"k": 1, "k": 2}', 'old'), """
        """(2, '2024-01-15 08:00:00', '2024-01-15 08:00:00-08', '00:00:00', '{"k": 3, "k": 4}', 'old')"""
    )
    runtime = Runtime(live_runtime.settings.model_copy(update={"staging_format": staging_format}))
    options = TableOptions(schema_name=pg_schema, table_name="moments", target_schema=live_schema)

    first = replicate(options, runtime)
    assert first["status"] == "succeeded", first["error"]

    source("ALTER TABLE {t} DROP COLUMN legacy")
    source("""INSERT INTO {t} VALUES (3, NULL, NULL, NULL, '{"k": 5}')""")
    second = replicate(options, runtime)
    assert second["status"] == "succeeded", second["error"]

    session = live.connect(live_schema, "aurora-batch:live-tests:semantics")
    try:
        rows = session.execute(
            'SELECT "ID", "AT_LOCAL", "AT_INSTANT", "AT_TIME", "DOC", "LEGACY" FROM "MOMENTS" ORDER BY "ID"'
        )
    finally:
        session.close()
    by_key = {row[0]: row[1:] for row in rows}
    for key, (local, instant, at_time, k) in EXPECTED.items():
        got_local, got_instant, got_time, doc, _ = by_key[key]
        assert got_local == local
        assert got_instant.timestamp() == instant.timestamp()
        assert got_time == at_time
        assert json.loads(doc) == {"k": k}
    assert by_key[3][4] is not None and json.loads(by_key[3][4]) == {"k": 5}
    assert by_key[3][5] is None  # the dropped column is NULL for new rows, and no longer NOT NULL
