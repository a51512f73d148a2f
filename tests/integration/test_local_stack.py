"""The local stack: every service is really up and seeded, the Snowflake emulator's shims behave like
the statements they emulate, and the stack leaves no process or directory behind."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import hvac
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import snowflake.connector
from aurora_batch import state_schema
from aurora_batch_dev import VAULT_SECRET_PATH_AURORA, VAULT_SECRET_PATH_SNOWFLAKE, LocalStack
from aurora_batch_dev.emulator_api import HEALTH_ROUTE
from aurora_batch_dev.processes import http_status, tcp_accepts
from aurora_batch_dev.snowflake_shims import SHIMS
from aurora_batch_dev.stack import remove_stale_stack_dirs
from snowflake.connector.errors import DatabaseError, ProgrammingError

from tests.support.keys import new_key_pair

DEADLINE_SECONDS = 30.0


def poll(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling a condition, with a deadline


def aws_client(stack: LocalStack, service: str) -> Any:
    env = stack.env()
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    ).client(service, endpoint_url=env["AWS_ENDPOINT_URL"])


@pytest.fixture
def sf(stack: LocalStack) -> Iterator[snowflake.connector.cursor.SnowflakeCursor]:
    with contextlib.closing(stack.snowflake_connect()) as conn, conn.cursor() as cursor:
        yield cursor


@pytest.fixture
def sf_table_prefix() -> str:
    return f"T{os.getpid()}_{time.monotonic_ns()}"


# --- each service is up and seeded ------------------------------------------------------------------


def test_stack_env_points_at_every_service(stack: LocalStack) -> None:
    env = stack.env()
    assert env["VAULT_SECRET_PATH_AURORA"] == "secret/aurora/connection"
    assert env["VAULT_SECRET_PATH_SNOWFLAKE"] == "secret/snowflake/credentials"
    assert (env["STAGING_BUCKET"], env["STAGING_PREFIX"]) == ("aurora-batch-staging", "staging")
    assert (env["SNOWFLAKE_STAGE"], env["STATE_TABLE"]) == ("AURORA_BATCH_STAGE", "aurora_batch_state")
    for name in ("VAULT_ADDR", "SNOWFLAKE_ENDPOINT", "AWS_ENDPOINT_URL"):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env[name]), name
        assert http_status(env[name]) is not None, f"{name} does not answer"


def test_postgres_app_role_connects_with_its_password(stack: LocalStack) -> None:
    with contextlib.closing(stack.pg_connect()) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database(), 1, pg_has_role('pg_read_all_stats', 'MEMBER')")
        assert cursor.fetchone() == ("aurora_batch", "appdb", 1, True)
        cursor.execute("SHOW server_version_num")
        (version,) = cursor.fetchone() or ("0",)
        assert 150000 <= int(version) < 160000


def test_postgres_refuses_a_wrong_password_and_a_superuser_over_tcp(stack: LocalStack) -> None:
    pg = stack.pg
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=pg.host, port=pg.port, dbname=pg.database, user=pg.user, password="wrong")
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host=pg.host, port=pg.port, dbname=pg.database, user=pg.superuser, password="")


def test_second_role_reads_tables_but_not_other_sessions_queries(stack: LocalStack) -> None:
    table = f"stats_probe_{time.monotonic_ns()}"
    with contextlib.closing(stack.pg_connect()) as app:
        app.autocommit = True
        role = stack.create_pg_role(f"reader_{time.monotonic_ns()}")
        with app.cursor() as cursor:
            cursor.execute(f"CREATE TABLE public.{table} (id int)")  # created after the role: default privileges
            cursor.execute(f"INSERT INTO public.{table} VALUES (1), (2)")
        with contextlib.closing(psycopg2.connect(role.dsn)) as reader, reader.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM public.{table}")
            assert cursor.fetchone() == (2,)
            cursor.execute("SELECT pg_has_role('pg_read_all_stats', 'MEMBER')")
            assert cursor.fetchone() == (False,)
            cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (app.get_backend_pid(),))
            assert cursor.fetchone() == ("<insufficient privilege>",)
        with app.cursor() as cursor:
            cursor.execute(f"DROP TABLE public.{table}")


def test_staging_bucket_and_state_table_exist(stack: LocalStack) -> None:
    aws_client(stack, "s3").head_bucket(Bucket=stack.staging_bucket)
    dynamodb = aws_client(stack, "dynamodb")
    table = dynamodb.describe_table(TableName=stack.state_table)["Table"]
    assert table["KeySchema"] == state_schema.KEY_SCHEMA
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=stack.state_table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", state_schema.TTL_ATTRIBUTE)


def test_vault_holds_both_secrets_at_the_seed_paths(stack: LocalStack) -> None:
    client = hvac.Client(url=stack.vault_addr, token=stack.vault_token)
    read = client.secrets.kv.v2.read_secret_version

    aurora = read(
        path=VAULT_SECRET_PATH_AURORA.removeprefix("secret/"),
        mount_point="secret",
        raise_on_deleted_version=True,
    )["data"]["data"]
    assert aurora == {
        "host": stack.pg.host,
        "port": stack.pg.port,
        "database": "appdb",
        "user": "aurora_batch",
        "password": stack.pg.password,
    }
    snowflake_secret = read(
        path=VAULT_SECRET_PATH_SNOWFLAKE.removeprefix("secret/"),
        mount_point="secret",
        raise_on_deleted_version=True,
    )
    credentials = snowflake_secret["data"]["data"]
    assert set(credentials) == {"account", "user", "password", "warehouse", "database", "schema", "role"}
    assert (credentials["account"], credentials["database"], credentials["schema"]) == (
        "aurora-batch-local",
        "ANALYTICS",
        "PUBLIC",
    )
    assert (credentials["warehouse"], credentials["role"]) == ("COMPUTE_WH", "AURORA_BATCH")


def test_vault_rejects_another_token(stack: LocalStack) -> None:
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=stack.vault_addr, token="not-the-root-token").secrets.kv.v2.read_secret_version(
            path="aurora/connection", mount_point="secret", raise_on_deleted_version=True
        )


def test_no_secret_value_is_written_to_any_log(stack: LocalStack) -> None:
    secret_values = [stack.vault_token, stack.pg.password, stack.snowflake_credentials["password"]]
    logs = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in stack.log_dir.iterdir()}
    assert {"postgres.log", "moto.log", "openbao.log", "snowflake.log"} <= set(logs)
    assert "Root Token: ***" in logs["openbao.log"]  # the dev banner, redacted
    for name, text in logs.items():
        for value in secret_values:
            assert value not in text, f"a secret value appears in {name}"


def test_snowflake_connector_queries_the_emulator(sf: Any) -> None:
    sf.execute("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA(), 40 + 2")
    assert sf.fetchone() == ("ANALYTICS", "PUBLIC", 42)


def test_external_stage_points_at_the_staging_prefix(sf: Any) -> None:
    sf.execute("SHOW STAGES IN SCHEMA ANALYTICS.PUBLIC")
    columns = [d.name for d in sf.description]
    stages = {row[columns.index("name")]: row for row in sf.fetchall()}
    stage = stages["AURORA_BATCH_STAGE"]
    assert stage[columns.index("url")] == "s3://aurora-batch-staging/staging/"
    assert stage[columns.index("type")] == "EXTERNAL"


def _put_parquet(stack: LocalStack, key: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    aws_client(stack, "s3").put_object(Bucket=stack.staging_bucket, Key=key, Body=buffer.getvalue())


def test_copy_into_loads_parquet_staged_in_moto(stack: LocalStack, sf: Any, sf_table_prefix: str) -> None:
    table = f"{sf_table_prefix}_COPY"
    part = f"public.copy_probe/{sf_table_prefix}/part-00000.parquet"
    _put_parquet(stack, f"staging/{part}", pa.table({"ID": [1, 2, 3], "NAME": ["a", "b", None]}))
    sf.execute(f"CREATE TABLE {table} (ID INTEGER, NAME VARCHAR)")

    sf.execute(
        f"COPY INTO {table} FROM @AURORA_BATCH_STAGE FILES = ('{part}') FILE_FORMAT = (TYPE = PARQUET) "
        "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE ON_ERROR = ABORT_STATEMENT"
    )
    columns = [d.name.lower() for d in sf.description]
    (result,) = sf.fetchall()
    assert result[columns.index("status")] == "LOADED"
    assert result[columns.index("rows_loaded")] == 3
    sf.execute(f"SELECT ID, NAME FROM {table} ORDER BY ID")
    assert sf.fetchall() == [(1, "a"), (2, "b"), (3, None)]


# --- the shims ---------------------------------------------------------------------------------------


def _rows(sf: Any, table: str) -> list[tuple[Any, ...]]:
    sf.execute(f"SELECT * FROM {table} ORDER BY 1")
    return list(sf.fetchall())


def _column_facts(sf: Any, table: str) -> dict[str, tuple[Any, ...]]:
    sf.execute(
        "SELECT column_name, is_nullable, character_maximum_length, comment FROM information_schema.columns "
        f"WHERE table_schema = 'PUBLIC' AND table_name = '{table}'"
    )
    return {row[0]: tuple(row[1:]) for row in sf.fetchall()}


def _table_comment(sf: Any, table: str) -> str | None:
    sf.execute(
        f"SELECT comment FROM information_schema.tables WHERE table_schema = 'PUBLIC' AND table_name = '{table}'"
    )
    (comment,) = sf.fetchone()
    return comment  # type: ignore[no-any-return]


def test_shim_swap_with_exchanges_data_and_metadata(sf: Any, sf_table_prefix: str) -> None:
    live, staged = f"{sf_table_prefix}_LIVE", f"{sf_table_prefix}_STAGED"
    sf.execute(f"CREATE TABLE {live} (ID INTEGER NOT NULL, OLD_NAME VARCHAR(5))")
    sf.execute(f"INSERT INTO {live} VALUES (1, 'old')")
    sf.execute(f"COMMENT ON TABLE {live} IS 'old table'")
    sf.execute(f"CREATE TABLE {staged} (ID INTEGER NOT NULL, NEW_NAME VARCHAR(20))")
    sf.execute(f"COMMENT ON COLUMN {staged}.NEW_NAME IS 'new column'")
    sf.execute(f"INSERT INTO {staged} VALUES (1, 'new'), (2, 'newer')")

    sf.execute(f"ALTER TABLE {live} SWAP WITH {staged}")

    assert sf.fetchone() == ("Statement executed successfully.",)
    assert _rows(sf, live) == [(1, "new"), (2, "newer")]
    assert _rows(sf, staged) == [(1, "old")]
    assert _column_facts(sf, live)["NEW_NAME"] == ("YES", 20, "new column")
    assert _column_facts(sf, staged)["OLD_NAME"] == ("YES", 5, None)
    assert _table_comment(sf, staged) == "old table"
    assert _table_comment(sf, live) is None


def test_shim_swap_with_a_missing_table_fails_and_changes_nothing(sf: Any, sf_table_prefix: str) -> None:
    live = f"{sf_table_prefix}_KEEP"
    sf.execute(f"CREATE TABLE {live} (ID INTEGER)")
    sf.execute(f"INSERT INTO {live} VALUES (7)")

    with pytest.raises(ProgrammingError, match="does not exist or not authorized") as raised:
        sf.execute(f"ALTER TABLE {live} SWAP WITH {sf_table_prefix}_MISSING")

    assert raised.value.errno == 2003
    assert _rows(sf, live) == [(7,)]


def test_shim_swap_with_is_atomic_for_a_concurrent_reader(stack: LocalStack, sf: Any, sf_table_prefix: str) -> None:
    live, staged = f"{sf_table_prefix}_HOT", f"{sf_table_prefix}_HOT_NEXT"
    sf.execute(f"CREATE TABLE {live} AS SELECT range AS ID FROM range(100)")
    sf.execute(f"CREATE TABLE {staged} AS SELECT range AS ID FROM range(250)")
    seen: set[int] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def read_continuously() -> None:
        try:
            with contextlib.closing(stack.snowflake_connect()) as conn, conn.cursor() as reader:
                while not done.is_set():
                    reader.execute(f"SELECT COUNT(*) FROM {live}")
                    seen.add(reader.fetchone()[0])  # type: ignore[index]
        except BaseException as exc:
            errors.append(exc)

    reader_thread = threading.Thread(target=read_continuously)
    reader_thread.start()
    try:
        poll(lambda: bool(seen) or bool(errors), "the reader's first count")
        for _ in range(20):
            sf.execute(f"ALTER TABLE {live} SWAP WITH {staged}")
    finally:
        done.set()
        reader_thread.join(timeout=DEADLINE_SECONDS)
    assert not errors
    assert seen <= {100, 250}
    sf.execute(f"SELECT COUNT(*) FROM {live}")
    assert sf.fetchone() == (100,)  # an even number of swaps


def test_shim_clone_copies_structure_rows_and_comments(sf: Any, sf_table_prefix: str) -> None:
    source, copy = f"{sf_table_prefix}_SRC", f"{sf_table_prefix}_CLONE"
    sf.execute(f"CREATE TABLE {source} (ID INTEGER NOT NULL PRIMARY KEY, CODE VARCHAR(12), AMOUNT NUMBER(12,2))")
    sf.execute(f"COMMENT ON COLUMN {source}.CODE IS 'the code'")
    sf.execute(f"COMMENT ON TABLE {source} IS 'source table'")
    sf.execute(f"INSERT INTO {source} VALUES (1, 'a', 1.50), (2, 'b', NULL)")

    sf.execute(f"CREATE OR REPLACE TABLE {copy} CLONE {source} COPY GRANTS")

    assert _rows(sf, copy) == _rows(sf, source)
    assert _column_facts(sf, copy) == _column_facts(sf, source)
    assert _column_facts(sf, copy)["ID"][0] == "NO"
    assert _column_facts(sf, copy)["CODE"] == ("YES", 12, "the code")
    assert _table_comment(sf, copy) == "source table"
    with pytest.raises(ProgrammingError, match="already exists") as raised:
        sf.execute(f"CREATE TABLE {copy} CLONE {source}")
    assert raised.value.errno == 2002
    sf.execute(f"SHOW PRIMARY KEYS IN TABLE {copy}")
    columns = [d.name for d in sf.description]
    assert [row[columns.index("column_name")] for row in sf.fetchall()] == ["ID"]


def test_shim_like_copies_structure_without_rows(sf: Any, sf_table_prefix: str) -> None:
    source, copy = f"{sf_table_prefix}_LSRC", f"{sf_table_prefix}_LIKE"
    sf.execute(f"CREATE TABLE {source} (ID INTEGER NOT NULL PRIMARY KEY, CODE VARCHAR(12))")
    sf.execute(f"COMMENT ON COLUMN {source}.CODE IS 'the code'")
    sf.execute(f"INSERT INTO {source} VALUES (1, 'a')")

    sf.execute(f"CREATE OR REPLACE TABLE {copy} LIKE {source} COPY GRANTS")

    assert _rows(sf, copy) == []
    assert _column_facts(sf, copy) == _column_facts(sf, source)
    assert _column_facts(sf, copy)["CODE"] == ("YES", 12, "the code")


def test_shim_clone_or_replace_replaces_the_existing_table(sf: Any, sf_table_prefix: str) -> None:
    source, target = f"{sf_table_prefix}_NEWDATA", f"{sf_table_prefix}_TARGET"
    sf.execute(f"CREATE TABLE {target} (OLD INTEGER)")
    sf.execute(f"INSERT INTO {target} VALUES (1)")
    sf.execute(f"CREATE TABLE {source} (ID INTEGER, NAME VARCHAR)")
    sf.execute(f"INSERT INTO {source} VALUES (5, 'five')")

    sf.execute(f"CREATE OR REPLACE TABLE {target} CLONE {source}")

    assert _rows(sf, target) == [(5, "five")]
    assert set(_column_facts(sf, target)) == {"ID", "NAME"}


def test_shim_comment_on_column_sets_the_comment(sf: Any, sf_table_prefix: str) -> None:
    table = f"{sf_table_prefix}_COMMENTED"
    sf.execute(f'CREATE TABLE {table} (ID INTEGER, "note" VARCHAR)')

    sf.execute(f"COMMENT ON COLUMN ANALYTICS.PUBLIC.{table}.\"note\" IS 'it''s free text'")
    sf.execute(f"COMMENT IF EXISTS ON COLUMN {sf_table_prefix}_NO_SUCH_TABLE.ID IS 'ignored'")

    assert _column_facts(sf, table) == {
        "ID": ("YES", None, None),
        "note": ("YES", 16777216, "it's free text"),
    }
    with pytest.raises(ProgrammingError, match="invalid identifier 'MISSING'") as raised:
        sf.execute(f"COMMENT ON COLUMN {table}.MISSING IS 'x'")
    assert raised.value.errno == 904


def test_shim_query_tag_is_recorded_per_session(stack: LocalStack, sf_table_prefix: str) -> None:
    marker = f"tagged_{sf_table_prefix}"
    login_tag = f"aurora-batch:login:{sf_table_prefix}"
    tagged = stack.snowflake_connect(session_parameters={"QUERY_TAG": login_tag})
    with contextlib.closing(tagged) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT '{marker}-1'")
        cursor.execute("ALTER SESSION SET QUERY_TAG = 'aurora-batch:public.customers:it''s-run-1'")
        cursor.execute(f"SELECT '{marker}-2'")
        cursor.execute("ALTER SESSION UNSET QUERY_TAG")
        cursor.execute(f"SELECT '{marker}-3'")

    tags = {q["sql_text"]: q["query_tag"] for q in stack.snowflake_query_history() if marker in q["sql_text"]}
    assert tags == {
        f"SELECT '{marker}-1'": login_tag,
        f"SELECT '{marker}-2'": "aurora-batch:public.customers:it's-run-1",
        f"SELECT '{marker}-3'": None,
    }


def test_shim_remove_deletes_only_the_matching_staged_files(stack: LocalStack, sf: Any, sf_table_prefix: str) -> None:
    s3 = aws_client(stack, "s3")
    run = f"public.remove_probe/{sf_table_prefix}"
    keys = [f"staging/{run}/part-0000{i}.parquet" for i in range(3)] + [f"staging/{run}/manifest.json"]
    keep = f"staging/public.remove_probe/{sf_table_prefix}-other/part-00000.parquet"
    for key in [*keys, keep]:
        s3.put_object(Bucket=stack.staging_bucket, Key=key, Body=b"x")

    sf.execute(f"REMOVE @AURORA_BATCH_STAGE/{run}/ PATTERN = '.*[.]parquet'")
    removed = sorted(row[0] for row in sf.fetchall())
    assert removed == [f"s3://{stack.staging_bucket}/{k}" for k in keys[:3]]
    sf.execute(f"RM @ANALYTICS.PUBLIC.AURORA_BATCH_STAGE/{run}/")
    assert [row[0] for row in sf.fetchall()] == [f"s3://{stack.staging_bucket}/{keys[3]}"]

    listed = s3.list_objects_v2(Bucket=stack.staging_bucket, Prefix="staging/public.remove_probe/")
    assert [item["Key"] for item in listed.get("Contents", []) if sf_table_prefix in item["Key"]] == [keep]


def test_shim_grant_and_revoke_are_accepted(sf: Any) -> None:
    sf.execute("GRANT SELECT ON ALL TABLES IN SCHEMA ANALYTICS.PUBLIC TO ROLE REPORTING")
    assert sf.fetchone() == ("Statement executed successfully.",)
    sf.execute("REVOKE SELECT ON ALL TABLES IN SCHEMA ANALYTICS.PUBLIC FROM ROLE REPORTING")
    assert sf.fetchone() == ("Statement executed successfully.",)


def test_shim_storage_integration_is_accepted(sf: Any) -> None:
    sf.execute(
        "CREATE OR REPLACE STORAGE INTEGRATION PROBE_S3 TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' "
        "ENABLED = TRUE STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/probe' "
        "STORAGE_ALLOWED_LOCATIONS = ('s3://aurora-batch-staging/')"
    )
    assert sf.fetchone() == ("Integration PROBE_S3 successfully created.",)


def test_shim_alter_user_rsa_public_key_gates_key_pair_logins(stack: LocalStack, sf: Any) -> None:
    user, pair = f"PROBE_KEYPAIR_{time.monotonic_ns()}", new_key_pair()

    def key_pair_login() -> None:
        login = {
            "user": user,
            "password": None,
            "authenticator": "SNOWFLAKE_JWT",
            "private_key": pair.private_der,
        }
        with contextlib.closing(stack.snowflake_connect(**login)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)

    with pytest.raises(DatabaseError, match="JWT token is invalid") as refused:
        key_pair_login()
    assert refused.value.errno == 390144
    sf.execute(f"ALTER USER {user} SET RSA_PUBLIC_KEY_2 = '{pair.public_key_body}'")
    assert sf.fetchone() == ("Statement executed successfully.",)
    key_pair_login()
    sf.execute(f"ALTER USER {user} UNSET RSA_PUBLIC_KEY_2")
    with pytest.raises(DatabaseError, match="JWT token is invalid"):
        key_pair_login()


def test_shim_a_dropped_stream_is_no_longer_listed(stack: LocalStack) -> None:
    from tests.support.runs import stack_session_factory

    session = stack_session_factory(stack)("aurora-batch:probe:streams")
    try:
        session.execute("CREATE TABLE IF NOT EXISTS STREAM_PROBE (ID INT)")
        session.execute("CREATE STREAM STREAM_PROBE_CHANGES ON TABLE STREAM_PROBE")
        names, rows = session.execute_with_columns("SHOW STREAMS")
        assert "STREAM_PROBE_CHANGES" in [row[names.index("name")] for row in rows]
        session.execute("DROP STREAM IF EXISTS STREAM_PROBE_CHANGES")
        names, rows = session.execute_with_columns("SHOW STREAMS")
        assert "STREAM_PROBE_CHANGES" not in [row[names.index("name")] for row in rows]
    finally:
        session.close()


STRATEGIES = "test_full_refresh_strategies.py::"
STREAM_TEST = STRATEGIES + "test_a_swap_that_would_break_a_stream_fails_and_overwrite_keeps_the_stream"
OWNERSHIP_TEST = STRATEGIES + "test_a_full_refresh_of_a_target_the_loader_does_not_own_fails_naming_the_privilege"
TIMEOUT_TEST = "test_snowflake_statements.py::test_statement_timeout_in_seconds_limits_a_statement"

SHIM_TESTS = {
    "alter_table_swap_with": test_shim_swap_with_exchanges_data_and_metadata,
    "create_table_clone": test_shim_clone_copies_structure_rows_and_comments,
    "create_table_like": test_shim_like_copies_structure_without_rows,
    "comment_on_column": test_shim_comment_on_column_sets_the_comment,
    "alter_session_set_query_tag": test_shim_query_tag_is_recorded_per_session,
    "alter_session_unset_query_tag": test_shim_query_tag_is_recorded_per_session,
    "remove_stage_files": test_shim_remove_deletes_only_the_matching_staged_files,
    "grant_or_revoke": test_shim_grant_and_revoke_are_accepted,
    "create_storage_integration": test_shim_storage_integration_is_accepted,
    "alter_user_set_rsa_public_key": test_shim_alter_user_rsa_public_key_gates_key_pair_logins,
    "alter_user_unset_rsa_public_key": test_shim_alter_user_rsa_public_key_gates_key_pair_logins,
    # Shims of the full-refresh strategies and long statements, tested where the loader uses them.
    "insert_overwrite_into": STREAM_TEST,
    "grant_ownership_on_table": OWNERSHIP_TEST,
    "show_grants_on_table": OWNERSHIP_TEST,
    "is_role_in_session": OWNERSHIP_TEST,
    "create_stream": STREAM_TEST,
    "drop_stream": test_shim_a_dropped_stream_is_no_longer_listed,
    "show_streams": STREAM_TEST,
    "alter_session_set_statement_timeout": TIMEOUT_TEST,
}


def _test_exists(node: str) -> bool:
    """A test named `file::function` in this folder."""
    file_name, function = node.split("::")
    tree = ast.parse((Path(__file__).parent / file_name).read_text())
    return any(isinstance(n, ast.FunctionDef) and n.name == function for n in tree.body)


def test_every_shim_has_a_test_here_and_is_served(stack: LocalStack) -> None:
    assert set(SHIM_TESTS) == {s.name for s in SHIMS}
    assert all(_test_exists(test) for test in SHIM_TESTS.values() if isinstance(test, str))
    session = requests.Session()
    session.trust_env = False
    health = session.get(f"{stack.snowflake_endpoint}{HEALTH_ROUTE}", timeout=10).json()
    assert health == {"ok": True, "shims": [s.name for s in SHIMS]}


# --- lifecycle: clean stop, no orphans -----------------------------------------------------------------


def _descendants(root_pid: int) -> set[int]:
    """Every live process below root_pid, from /proc (zombies count as gone)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                parents[int(entry.name)] = int(ppid)
    found: set[int] = set()
    frontier = {root_pid}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


STACK_UP_SCRIPT = "import sys; from aurora_batch_dev import run_stack_up; sys.exit(run_stack_up())"


@contextlib.contextmanager
def stack_up_subprocess() -> Iterator[tuple[subprocess.Popen[str], dict[str, str], Path]]:
    """``run_stack_up`` in a child Python; yields it once it printed its environment."""
    process = subprocess.Popen(
        [sys.executable, "-c", STACK_UP_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        env: dict[str, str] = {}
        for line in process.stdout:
            if match := re.fullmatch(r"export (\w+)=(\S+)\n", line):
                env[match[1]] = match[2]
            elif logs := re.search(r"logs in (\S+);", line):
                yield process, env, Path(logs[1]).parent
                return
        pytest.fail(f"stack up printed no ready line; stderr: {process.stderr.read() if process.stderr else ''}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=DEADLINE_SECONDS)


def _ports(env: dict[str, str]) -> list[int]:
    return [int(env[name].rsplit(":", 1)[1]) for name in ("VAULT_ADDR", "SNOWFLAKE_ENDPOINT", "AWS_ENDPOINT_URL")]


def test_stack_up_prints_the_environment_and_stops_cleanly_on_sigint() -> None:
    with stack_up_subprocess() as (process, env, root_dir):
        assert set(env) >= {
            "VAULT_ADDR",
            "VAULT_TOKEN",
            "SNOWFLAKE_ENDPOINT",
            "AWS_ENDPOINT_URL",
            "STATE_TABLE",
        }
        children = _descendants(process.pid)
        assert len(children) >= 4
        assert all(tcp_accepts(port) for port in _ports(env))

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE_SECONDS) == 0
        poll(lambda: not any(_alive(pid) for pid in children), "the stack's processes to exit")
        assert not root_dir.exists()
        assert not any(tcp_accepts(port) for port in _ports(env))


def test_no_orphans_when_the_stack_owner_is_sigkilled() -> None:
    with stack_up_subprocess() as (process, env, root_dir):
        children = _descendants(process.pid)
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in children if _alive(pid)}
        assert {"postgres", "bao"} <= names  # plus the two Python servers and PostgreSQL's workers
        assert len(children) >= 6

        process.kill()
        process.wait(timeout=DEADLINE_SECONDS)

        poll(lambda: not any(_alive(pid) for pid in children), "every child of the killed stack to exit")
        assert not any(tcp_accepts(port) for port in _ports(env))
        assert root_dir.exists()  # nobody was left to clean up; the next start removes it
    assert root_dir in remove_stale_stack_dirs()
    assert not root_dir.exists()


def test_a_statement_the_emulator_cannot_run_fails_at_once_instead_of_being_retried(
    stack: LocalStack,
) -> None:
    # The production adapter retries server errors for minutes; the emulator answers as Snowflake does.
    from aurora_batch.errors import LoadError

    from tests.support.runs import stack_session_factory

    session = stack_session_factory(stack)("aurora-batch:probe:statement-error")
    try:
        session.execute("CREATE TABLE IF NOT EXISTS DUP_PROBE (ID INT PRIMARY KEY)")
        session.execute("INSERT INTO DUP_PROBE VALUES (1)")
        with pytest.raises(LoadError):
            session.execute("INSERT INTO DUP_PROBE VALUES (1)")  # a duplicate key: fakesnow's own 500
    finally:
        session.close()
