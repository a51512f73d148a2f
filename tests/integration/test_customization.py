"""Customization against the local stack: column selection and renaming, masking before anything
is staged, row filters, streaming transform hooks, and options rejected before anything runs.

Every run goes through aurora_batch.logic.invocation (run_table, or handle_replication_event when
the options come as an event) with a Runtime built from the stack's environment."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import hvac
import pyarrow.parquet as pq
import pytest
import zstandard
from aurora_batch.config import TableOptions, settings_from_env
from aurora_batch.errors import ConfigError
from aurora_batch.logic.invocation import handle_replication_event, run_table
from aurora_batch.logic.replicate import RunReport
from aurora_batch.model import Mode
from aurora_batch.wiring import MASKING_KEY, Runtime

from tests.support.hooks import StreamLog

ROWS = 600

PEOPLE_DDL = """
CREATE TABLE {schema}.people (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    account_no bigint,
    phone text,
    ssn text NOT NULL,
    birth_date date,
    signed_up timestamptz,
    profile jsonb,
    city text,
    region text NOT NULL,
    version bigint
);
INSERT INTO {schema}.people
SELECT g,
       'person' || g || '@pii.example',
       900000000 + g,
       '+1-555-' || lpad(g::text, 7, '0'),
       'SSN-' || lpad(g::text, 9, '0'),
       date '1980-01-01' + g,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '67 minutes',
       jsonb_build_object(
           'name', 'Person ' || g,
           'passport', 'PASSPORT-' || g,
           'score', 0.1000000000000000055,
           'contact', jsonb_build_object(
               'passport', 'PASSPORT-' || g,
               'history', jsonb_build_array(jsonb_build_object('passport', 'PASSPORT-' || g, 'kind', 'old'))
           )
       ),
       'town ' || (g % 7),
       CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END,
       g * 10
FROM generate_series(1, {rows}) AS g;
"""

# Fragments of the plaintext PII: none may appear in any staged byte or any target value. None of
# them can occur in a hex hash by chance.
PII_FRAGMENTS = ("@pii.example", "+1-555-", "SSN-", "PASSPORT-", "passport")
# The account numbers (bigint, hashed) as Parquet stores an int64: 8 little-endian bytes.
ACCOUNT_NUMBER_BYTES = tuple(struct.pack("<q", 900000000 + n) for n in range(1, ROWS + 1))

FULL_MASKING: dict[str, Any] = {
    "email": {"rule": "hash"},
    "account_no": {"rule": "hash"},
    "phone": {"rule": "mask", "keep_last": 4},
    "ssn": {"rule": "null"},
    "birth_date": {"rule": "truncate_date", "truncate_to": "year"},
    "signed_up": {"rule": "truncate_date", "truncate_to": "month"},
    "profile": {"rule": "redact_json_keys", "keys": ["passport"]},
}


# --- fixtures and helpers ---------------------------------------------------------------------

# The hooks these tests name, registered as an operator registers theirs (TRANSFORM_HOOKS).
REGISTERED_HOOKS = [
    f"tests.support.hooks.{name}"
    for name in ("upper_case_city", "fail_on_second_batch", "drop_last_column", "no_such_hook", "NOT_CALLABLE")
] + ["no_such_package.hooks.run"]


@pytest.fixture(autouse=True)
def registered_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFORM_HOOKS", json.dumps(REGISTERED_HOOKS))


@pytest.fixture
def people(stack: Any, pg_schema: str) -> str:
    _pg_execute(stack, PEOPLE_DDL.format(schema=f'"{pg_schema}"', rows=ROWS))
    return pg_schema


def _pg_execute(stack: Any, statement: str, params: tuple[Any, ...] | None = None) -> None:
    connection = stack.pg_connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
        connection.commit()
    finally:
        connection.close()


def _write_masking_key(stack: Any, path: str, key: str) -> None:
    client = hvac.Client(url=stack.vault_addr, token=stack.vault_token)
    mount, _, sub_path = path.partition("/")
    client.secrets.kv.v2.create_or_update_secret(path=sub_path, secret={MASKING_KEY: key}, mount_point=mount)


@pytest.fixture
def masking_key(stack: Any, stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes]:
    """A fresh HMAC key at a path of this test's own, named by VAULT_SECRET_PATH_MASKING."""
    path = f"secret/aurora-batch/masking-{secrets.token_hex(4)}"
    key = secrets.token_hex(24)
    _write_masking_key(stack, path, key)
    monkeypatch.setenv("VAULT_SECRET_PATH_MASKING", path)
    return path, key.encode()


def _hmac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _options(pg_schema: str, sf_schema: str, table: str = "people", **overrides: Any) -> TableOptions:
    return TableOptions(schema_name=pg_schema, table_name=table, target_schema=sf_schema, **overrides)


def _run(options: TableOptions, **kwargs: Any) -> RunReport:
    return run_table(options, Runtime(settings_from_env()), **kwargs)


def _succeeded(report: RunReport) -> RunReport:
    assert report.status == "succeeded", report.error
    return report


def _sf_query(stack: Any, statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(statement)
        names = [d[0] for d in cursor.description]
        return names, list(cursor.fetchall())
    finally:
        connection.close()


def _target_rows(stack: Any, sf_schema: str, table: str = "PEOPLE") -> list[dict[str, Any]]:
    names, rows = _sf_query(stack, f'SELECT * FROM "ANALYTICS"."{sf_schema}"."{table}" ORDER BY "ID"')
    return [dict(zip(names, row, strict=True)) for row in rows]


def _target_columns(stack: Any, sf_schema: str, table: str = "PEOPLE") -> dict[str, tuple[str, int | None, str]]:
    """Column name -> (DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE), in ordinal order."""
    _, rows = _sf_query(
        stack,
        "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE "
        "FROM ANALYTICS.INFORMATION_SCHEMA.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{sf_schema}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION",
    )
    return {name: (data_type, length, nullable) for name, data_type, length, nullable in rows}


def _target_tables(stack: Any, sf_schema: str) -> list[str]:
    _, rows = _sf_query(
        stack,
        f"SELECT TABLE_NAME FROM ANALYTICS.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '{sf_schema}'",
    )
    return sorted(row[0] for row in rows)


def _staged_objects(stack: Any, prefix: str) -> dict[str, bytes]:
    """Every object under the prefix, key -> raw bytes."""
    s3 = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.staging_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=stack.staging_bucket, Key=item["Key"])["Body"].read()
    return found


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd_frames(raw: bytes) -> list[bytes]:
    """The decompressed content of every zstd frame in a Parquet file: each compressed page,
    dictionary pages included, so values no row refers to are seen too."""
    frames = []
    start = raw.find(ZSTD_MAGIC)
    while start != -1:
        reader = zstandard.ZstdDecompressor().decompressobj()
        try:
            frames.append(reader.decompress(raw[start:]))
        except zstandard.ZstdError:
            start = raw.find(ZSTD_MAGIC, start + 1)  # the magic bytes occurred by chance
            continue
        start = raw.find(ZSTD_MAGIC, len(raw) - len(reader.unused_data))
    return frames


def _texts(rows: list[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        for value in row.values():
            if value is not None:
                yield str(value)


# --- masking ----------------------------------------------------------------------------------


def test_masked_values_never_reach_a_staged_byte_or_snowflake(
    stack: Any, people: str, sf_schema: str, masking_key: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGING_CLEANUP", "false")
    monkeypatch.setenv("PART_TARGET_ROWS", "200")
    _, key = masking_key

    report = _succeeded(_run(_options(people, sf_schema, masking=FULL_MASKING, batch_size=100)))

    staged = _staged_objects(stack, f"{stack.staging_prefix}/{people}.people/{report.run_id}/")
    assert len(staged) == report.parts == 3
    staged_rows: list[dict[str, Any]] = []
    for object_key, raw in staged.items():
        pages = _zstd_frames(raw)
        # Every byte is read: the file as written (page headers, footer with column names and
        # statistics) and every compressed page decompressed.
        for blob in (raw, *pages):
            for fragment in PII_FRAGMENTS:
                assert fragment.encode() not in blob, (object_key, fragment)
            assert not any(number in blob for number in ACCOUNT_NUMBER_BYTES), object_key
        assert b"EMAIL" in raw
        assert any(b"town 1" in page for page in pages)  # an unmasked value is visible to this check
        staged_rows += pq.read_table(io.BytesIO(raw)).to_pylist()
    assert len(staged_rows) == ROWS
    for text in _texts(staged_rows):
        assert not any(fragment in text for fragment in PII_FRAGMENTS), text
    first = next(r for r in staged_rows if r["ID"] == 1)
    assert first["EMAIL"] == _hmac(key, "person1@pii.example")
    assert first["CITY"] == "town 1"  # unmasked columns pass untouched
    # Redaction keeps every other member, and keeps JSON numbers exactly as PostgreSQL wrote them.
    profile = json.loads(first["PROFILE"])
    assert profile["name"] == "Person 1"
    assert profile["contact"]["history"] == [{"kind": "old"}]
    assert "0.1000000000000000055" in first["PROFILE"]

    target = _target_rows(stack, sf_schema)
    assert len(target) == ROWS
    for text in _texts(target):
        assert not any(fragment in text for fragment in PII_FRAGMENTS), text
    assert all(len(row["ACCOUNT_NO"]) == 64 for row in target)
    loaded = target[41]
    assert loaded["ID"] == 42
    assert loaded["EMAIL"] == _hmac(key, "person42@pii.example")
    assert loaded["ACCOUNT_NO"] == _hmac(key, "900000042")
    assert loaded["PHONE"] == "**********0042"
    assert loaded["SSN"] is None
    assert loaded["BIRTH_DATE"] == date(1980, 1, 1)  # 1980-02-12 truncated to the year
    assert loaded["SIGNED_UP"] == datetime(2024, 1, 1, tzinfo=UTC)  # 2024-01-02 22:54 truncated to the month
    assert json.loads(loaded["PROFILE"])["contact"] == {"history": [{"kind": "old"}]}


def test_masking_rules_truncate_and_keep_last_across_every_row(
    stack: Any, people: str, sf_schema: str, masking_key: tuple[str, bytes]
) -> None:
    masking = {
        "phone": {"rule": "mask", "keep_last": 2},
        "birth_date": {"rule": "truncate_date", "truncate_to": "month"},
        "signed_up": {"rule": "truncate_date", "truncate_to": "year"},
        "version": {"rule": "null"},  # numeric: the validation sums see NULL on both sides
    }
    _succeeded(_run(_options(people, sf_schema, masking=masking)))

    for row in _target_rows(stack, sf_schema):
        number = row["ID"]
        assert row["PHONE"] == "*" * 12 + f"{number:02d}"[-2:]
        birth = date.fromordinal(date(1980, 1, 1).toordinal() + number)
        assert row["BIRTH_DATE"] == date(birth.year, birth.month, 1)
        assert row["SIGNED_UP"] == datetime(row["SIGNED_UP"].year, 1, 1, tzinfo=UTC)
        assert row["VERSION"] is None
        assert row["EMAIL"] == f"person{number}@pii.example"  # not masked: untouched


def test_the_target_type_follows_the_masking(
    stack: Any, people: str, sf_schema: str, masking_key: tuple[str, bytes]
) -> None:
    _succeeded(_run(_options(people, sf_schema, masking=FULL_MASKING)))

    columns = _target_columns(stack, sf_schema)
    assert columns["EMAIL"][0] == "TEXT"
    assert columns["ACCOUNT_NO"][0] == "TEXT"  # bigint, hashed: VARCHAR, not NUMBER
    assert columns["PHONE"][0] == "TEXT"
    assert columns["SSN"][2] == "YES"  # NOT NULL in the source, but nulled
    assert columns["BIRTH_DATE"][0] == "DATE"
    assert columns["SIGNED_UP"][0] == "TIMESTAMP_TZ"
    assert columns["PROFILE"][0] == "VARIANT"
    assert columns["VERSION"][0] == "NUMBER"  # unmasked columns keep their mapping
    # The emulator reports no VARCHAR length, so the declared one is read from the DDL sent.
    created = [
        q["sql_text"]
        for q in stack.snowflake_query_history()
        if q["sql_text"].startswith(f'CREATE TABLE IF NOT EXISTS "ANALYTICS"."{sf_schema}"."PEOPLE"')
    ]
    assert len(created) == 1
    assert '"EMAIL" VARCHAR(64)' in created[0]
    assert '"ACCOUNT_NO" VARCHAR(64)' in created[0]


def test_hashes_are_stable_between_runs_join_across_tables_and_change_with_the_key(
    stack: Any, people: str, sf_schema: str, masking_key: tuple[str, bytes]
) -> None:
    path, key = masking_key
    _pg_execute(
        stack,
        f'CREATE TABLE "{people}".orders (id bigint PRIMARY KEY, email text NOT NULL); '
        f"INSERT INTO \"{people}\".orders SELECT g, 'person' || (g % 50 + 1) || '@pii.example' "
        "FROM generate_series(1, 200) AS g",
    )
    hashed = {"email": {"rule": "hash"}}

    _succeeded(_run(_options(people, sf_schema, masking=hashed)))
    first = {r["ID"]: r["EMAIL"] for r in _target_rows(stack, sf_schema)}
    _succeeded(_run(_options(people, sf_schema, masking=hashed)))
    second = {r["ID"]: r["EMAIL"] for r in _target_rows(stack, sf_schema)}
    assert first == second
    assert first[7] == _hmac(key, "person7@pii.example")

    _succeeded(_run(_options(people, sf_schema, table="orders", masking=hashed)))
    _, joined = _sf_query(
        stack,
        f'SELECT COUNT(*) FROM "ANALYTICS"."{sf_schema}"."ORDERS" o '
        f'JOIN "ANALYTICS"."{sf_schema}"."PEOPLE" p ON p."EMAIL" = o."EMAIL"',
    )
    assert joined[0][0] == 200

    new_key = secrets.token_hex(24)
    _write_masking_key(stack, path, new_key)
    _succeeded(_run(_options(people, sf_schema, masking=hashed)))  # a new Runtime: no cached key
    rotated = {r["ID"]: r["EMAIL"] for r in _target_rows(stack, sf_schema)}
    assert rotated[7] == _hmac(new_key.encode(), "person7@pii.example")
    assert not set(rotated.values()) & set(first.values())


def test_a_missing_masking_key_fails_the_run_before_anything_is_staged(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_SECRET_PATH_MASKING", f"secret/aurora-batch/absent-{secrets.token_hex(4)}")

    report = _run(_options(people, sf_schema, masking={"email": {"rule": "hash"}}))

    assert report.status == "failed"
    assert report.error is not None
    assert report.error["error"] == "VaultSecretNotFoundError"
    assert _staged_objects(stack, f"{stack.staging_prefix}/{people}.people/") == {}
    assert _target_tables(stack, sf_schema) == []


# --- columns and schema mapping ---------------------------------------------------------------


def test_includes_and_renames_land_as_configured_where_the_overrides_say(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    options = _options(
        people,
        sf_schema,
        include_columns=("id", "email", "city"),
        rename_columns={"email": "contact_email", "city": "town"},
        target_table="people_slim",
    )

    report = _succeeded(_run(options))

    assert report.target == f"ANALYTICS.{sf_schema}.PEOPLE_SLIM"
    assert _target_tables(stack, sf_schema) == ["PEOPLE_SLIM"]
    assert "PEOPLE_SLIM" not in _target_tables(stack, "PUBLIC")
    # Plain lowercase names are upper-cased, as Snowflake folds unquoted names. (A mixed-case name
    # is kept exactly, but the emulator mishandles mixed-case columns, so it is not loaded here.)
    assert list(_target_columns(stack, sf_schema, "PEOPLE_SLIM")) == ["ID", "CONTACT_EMAIL", "TOWN"]
    rows = _target_rows(stack, sf_schema, "PEOPLE_SLIM")
    assert len(rows) == ROWS
    assert rows[4] == {"ID": 5, "CONTACT_EMAIL": "person5@pii.example", "TOWN": "town 5"}


def test_include_without_the_key_still_carries_the_key(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    _succeeded(_run(_options(people, sf_schema, include_columns=("email",))))

    assert set(_target_columns(stack, sf_schema)) == {"ID", "EMAIL"}


def test_exclude_leaves_columns_out(stack: Any, stack_env: dict[str, str], people: str, sf_schema: str) -> None:
    _succeeded(_run(_options(people, sf_schema, exclude_columns=("ssn", "profile", "phone"))))

    assert list(_target_columns(stack, sf_schema)) == [
        "ID", "EMAIL", "ACCOUNT_NO", "BIRTH_DATE", "SIGNED_UP", "CITY", "REGION", "VERSION",
    ]  # fmt: skip
    assert len(_target_rows(stack, sf_schema)) == ROWS


# --- row filters ------------------------------------------------------------------------------


def test_where_filters_the_rows_of_a_full_refresh(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    report = _succeeded(_run(_options(people, sf_schema, where="region = 'eu' AND id <= 300")))

    rows = _target_rows(stack, sf_schema)
    assert [r["ID"] for r in rows] == list(range(3, 301, 3))
    assert report.rows_loaded == 100


def test_incremental_bounds_and_null_counts_respect_the_filter(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    # The largest versions belong to rows the filter leaves out; one NULL version on each side.
    _pg_execute(stack, f"UPDATE \"{people}\".people SET version = 100000 + id WHERE region = 'us' AND id > 590")
    _pg_execute(stack, f'UPDATE "{people}".people SET version = NULL WHERE id IN (3, 4)')
    options = _options(people, sf_schema, mode=Mode.INCREMENTAL, incremental_column="version", where="region = 'eu'")

    first = _succeeded(_run(options))

    assert first.watermark_after == "6000"  # max over eu rows (id 600), not the us rows' 100591+
    assert first.null_watermark_rows == 1  # id 3 only: id 4 is a us row
    eu_ids = [r["ID"] for r in _target_rows(stack, sf_schema)]
    assert eu_ids == list(range(6, ROWS + 1, 3))  # incremental runs skip the NULL-version row 3

    _pg_execute(
        stack,
        f'INSERT INTO "{people}".people (id, email, ssn, region, city, version) VALUES '
        "(1002, 'n1@pii.example', 'SSN-x', 'eu', 'new eu', 6100), "
        "(1003, 'n2@pii.example', 'SSN-y', 'us', 'new us', 200000)",
    )
    _pg_execute(stack, f'UPDATE "{people}".people SET city = %s, version = 6200 WHERE id = 6', ("moved",))

    second = _succeeded(_run(options))

    assert second.watermark_before == "6000"
    assert second.watermark_after == "6200"
    rows = {r["ID"]: r for r in _target_rows(stack, sf_schema)}
    assert rows[1002]["CITY"] == "new eu"
    assert rows[6]["CITY"] == "moved"
    assert 1003 not in rows
    assert all(r["REGION"] == "eu" for r in rows.values())


def test_a_where_with_a_percent_sign_filters_an_incremental_run(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    options = _options(
        people, sf_schema, mode=Mode.INCREMENTAL, incremental_column="version", where="region LIKE 'e%' AND id <= 30"
    )

    report = _succeeded(_run(options))

    assert [r["ID"] for r in _target_rows(stack, sf_schema)] == list(range(3, 31, 3))
    assert report.watermark_after is not None


def test_a_watermark_column_named_with_a_percent_sign_bounds_the_next_run(
    stack: Any, stack_env: dict[str, str], pg_tables: Any, sf_schema: str
) -> None:
    schema = pg_tables(
        'CREATE TABLE {schema}.shares (id int PRIMARY KEY, "v%" int NOT NULL);'
        "INSERT INTO {schema}.shares SELECT g, g FROM generate_series(1, 20) g"
    )
    options = _options(schema, sf_schema, table="shares", mode=Mode.INCREMENTAL, incremental_column="v%")
    _succeeded(_run(options))
    _pg_execute(stack, f'UPDATE "{schema}".shares SET "v%" = 100 WHERE id = 5')

    second = _succeeded(_run(options))

    assert (second.watermark_before, second.watermark_after, second.rows_extracted) == ("20", "100", 2)


def test_a_where_postgresql_rejects_fails_the_run_and_commits_nothing(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    _succeeded(_run(_options(people, sf_schema)))

    report = _run(_options(people, sf_schema, where="no_such_column = 1"))

    assert report.status == "failed"
    assert report.error is not None
    assert "no_such_column" in report.error["message"]
    assert len(_target_rows(stack, sf_schema)) == ROWS  # the earlier load is untouched
    assert _target_tables(stack, sf_schema) == ["PEOPLE"]  # no work table left behind


# --- transform hooks --------------------------------------------------------------------------


class _RecordingProgress:
    """Logs each batch the run has staged into the same log the hook writes."""

    def phase(self, name: str) -> None:
        return None

    def phase_finished(self, name: str, seconds: float) -> None:
        return None

    def estimate(self, rows: int | None) -> None:
        return None

    def rows(self, rows: int, staged_bytes: int) -> None:
        StreamLog.record("staged", rows)


def test_a_hook_streams_batch_by_batch_and_its_output_lands(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str
) -> None:
    StreamLog.reset()
    options = _options(people, sf_schema, transform="tests.support.hooks.upper_case_city", batch_size=50)

    _succeeded(_run(options, progress=_RecordingProgress()))

    received = [count for event, count in StreamLog.events if event == "hook received"]
    assert received == list(range(1, ROWS // 50 + 1))
    assert StreamLog.input_was_iterator is True
    # Each batch is staged before the hook is handed the next one: never more than one in flight.
    in_flight = peak = 0
    for event, _ in StreamLog.events:
        in_flight += 1 if event == "hook received" else -1
        peak = max(peak, in_flight)
    assert peak == 1
    assert StreamLog.events[-1][0] == "staged"
    assert {r["CITY"] for r in _target_rows(stack, sf_schema)} == {f"TOWN {n}" for n in range(7)}


@pytest.mark.parametrize(
    ("hook", "reason"),
    [
        ("fail_on_second_batch", "ValueError: cannot handle the second batch"),
        ("drop_last_column", "must yield record batches of the input schema"),
    ],
)
def test_a_failing_hook_fails_the_run_and_names_the_hook(
    stack: Any, stack_env: dict[str, str], people: str, sf_schema: str, hook: str, reason: str
) -> None:
    dotted = f"tests.support.hooks.{hook}"

    report = _run(_options(people, sf_schema, transform=dotted, batch_size=100))

    assert report.status == "failed"
    assert report.error is not None
    assert report.error["error"] == "TransformHookError"
    assert report.error["hook"] == dotted
    assert dotted in report.error["message"]
    assert reason in report.error["message"]
    assert report.error["retryable"] is False
    assert "PEOPLE" not in _target_tables(stack, sf_schema) or _target_rows(stack, sf_schema) == []
    assert Runtime(settings_from_env()).state.get(f"{people}.people").watermark is None


# --- bad options are rejected before anything runs ----------------------------------------------

# Rejected when the options are read, before any connection is opened.
PARSE_TIME_CASES = [
    pytest.param(
        {"include_columns": ["email"], "exclude_columns": ["ssn"]},
        "exclude_columns",
        "cannot both",
        id="include+exclude",
    ),
    pytest.param({"include_columns": []}, "include_columns", "at least one column", id="empty-include"),
    pytest.param(
        {"masking": {"phone": {"rule": "mask"}}},
        "masking.phone",
        "needs keep_last",
        id="mask-without-keep_last",
    ),
    pytest.param(
        {"masking": {"email": {"rule": "hash", "keep_last": 4}}},
        "masking.email",
        "takes no option keep_last",
        id="hash-with-keep_last",
    ),
    pytest.param(
        {"masking": {"birth_date": {"rule": "truncate_date", "truncate_to": "week"}}},
        "masking.birth_date.truncate_to",
        "'month' or 'year'",
        id="truncate-to-week",
    ),
    pytest.param({"masking": {"email": {"rule": "encrypt"}}}, "masking.email.rule", "'hash'", id="unknown-rule"),
    pytest.param(
        {"masking": {"profile": {"rule": "redact_json_keys", "keys": []}}},
        "masking.profile",
        "needs keys",
        id="redact-without-keys",
    ),
    pytest.param({"rename_columns": {"email": " "}}, "rename_columns", "empty name", id="rename-to-empty"),
    pytest.param({"transform": "not a dotted path"}, "transform", "dotted path", id="transform-syntax"),
    pytest.param({"include_colums": ["email"]}, "include_colums", "unknown setting", id="misspelt-option"),
]

# Rejected when the options are checked against the source catalog, before anything is staged.
CATALOG_CASES = [
    pytest.param({"include_columns": ["email", "nope"]}, "include_columns", "'nope'", id="include-unknown"),
    pytest.param({"exclude_columns": ["nope"]}, "exclude_columns", "'nope'", id="exclude-unknown"),
    pytest.param({"rename_columns": {"nope": "other"}}, "rename_columns", "'nope'", id="rename-unknown"),
    pytest.param(
        {"rename_columns": {"email": "phone"}}, "rename_columns", "same Snowflake name", id="rename-collision"
    ),
    pytest.param({"masking": {"nope": {"rule": "null"}}}, "masking", "'nope'", id="mask-unknown"),
    pytest.param(
        {"exclude_columns": ["ssn"], "masking": {"ssn": {"rule": "null"}}},
        "masking",
        "leave out",
        id="mask-excluded",
    ),
    pytest.param({"masking": {"id": {"rule": "hash"}}}, "masking", "key columns cannot be masked", id="mask-key"),
    pytest.param(
        {"merge_keys": ["email"], "masking": {"email": {"rule": "hash"}}},
        "masking",
        "key columns",
        id="mask-merge-key",
    ),
    pytest.param(
        {"mode": "incremental", "incremental_column": "version", "masking": {"version": {"rule": "null"}}},
        "masking",
        "incremental column",
        id="mask-watermark",
    ),
    pytest.param(
        {"masking": {"city": {"rule": "truncate_date", "truncate_to": "year"}}},
        "masking",
        "date and timestamp",
        id="truncate-text",
    ),
    pytest.param(
        {"masking": {"city": {"rule": "redact_json_keys", "keys": ["a"]}}},
        "masking",
        "json and jsonb",
        id="redact-text",
    ),
    pytest.param(
        {"transform": "tests.support.hooks.no_such_hook"},
        "transform",
        "cannot be imported",
        id="hook-missing",
    ),
    pytest.param(
        {"transform": "no_such_package.hooks.run"},
        "transform",
        "cannot be imported",
        id="hook-module-missing",
    ),
    pytest.param(
        {"transform": "tests.support.hooks.NOT_CALLABLE"}, "transform", "not callable", id="hook-not-callable"
    ),
]


def _assert_nothing_happened(stack: Any, runtime: Runtime, pg_schema: str, sf_schema: str) -> None:
    assert _staged_objects(stack, f"{stack.staging_prefix}/{pg_schema}.people/") == {}
    assert _target_tables(stack, sf_schema) == []
    state = runtime.state.get(f"{pg_schema}.people")
    assert state.watermark is None
    assert state.checkpoint is None
    assert not state.lease_live(datetime.now(UTC).timestamp())


@pytest.mark.parametrize(("bad", "field", "phrase"), PARSE_TIME_CASES)
def test_a_bad_option_is_rejected_when_read(
    stack: Any,
    people: str,
    sf_schema: str,
    masking_key: tuple[str, bytes],
    bad: dict[str, Any],
    field: str,
    phrase: str,
) -> None:
    runtime = Runtime(settings_from_env())
    event = {"schema_name": people, "table_name": "people"}
    configured = {**os.environ, "TABLES": json.dumps({f"{people}.people": {"target_schema": sf_schema, **bad}})}

    with pytest.raises(ConfigError) as raised:  # options are configuration: read with the settings
        handle_replication_event(event, Runtime(settings_from_env(configured)))

    assert raised.value.fields["field"] == field
    assert field in str(raised.value)
    assert phrase in str(raised.value)
    _assert_nothing_happened(stack, runtime, people, sf_schema)
    assert runtime.state.run_history(f"{people}.people") == []


@pytest.mark.parametrize(("bad", "field", "phrase"), CATALOG_CASES)
def test_a_bad_option_is_rejected_against_the_catalog_before_anything_runs(
    stack: Any,
    people: str,
    sf_schema: str,
    masking_key: tuple[str, bytes],
    bad: dict[str, Any],
    field: str,
    phrase: str,
) -> None:
    configured = {**os.environ, "TABLES": json.dumps({f"{people}.people": {"target_schema": sf_schema, **bad}})}
    runtime = Runtime(settings_from_env(configured))
    event = {"schema_name": people, "table_name": "people"}

    report = handle_replication_event(event, runtime)

    assert report["status"] == "failed"
    assert report["error"]["error"] == "ConfigError"
    assert report["error"]["field"] == field
    assert phrase in report["error"]["message"]
    assert report["rows_extracted"] == report["parts"] == 0
    _assert_nothing_happened(stack, runtime, people, sf_schema)
