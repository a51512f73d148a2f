"""LocalStack: PostgreSQL 15, moto, OpenBao and the Snowflake emulator on free loopback ports.

One class used by the pytest fixtures, ``make demo`` and ``aurora-batch stack up``::

    with LocalStack() as stack:
        env = stack.env()            # the Lambda's environment, pointing at the stack
        conn = stack.pg_connect()    # the app role; pg_connect(superuser=True) for setup

All children start at once and are polled for readiness with a deadline. Their output goes to
log files under the stack's temporary directory; a start failure quotes the tail of the log.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

import psycopg2
import psycopg2.extensions
import snowflake.connector
from psycopg2 import sql

from aurora_batch_dev.errors import DevStackError, LocalStackError
from aurora_batch_dev.processes import ChildProcess, stop_all
from aurora_batch_dev.services import (
    AWS_REGION,
    AWS_TEST_KEY,
    MotoServer,
    PostgresInfo,
    PostgresServer,
    SnowflakeEmulatorServer,
    SnowflakeObjects,
    VaultServer,
)

STACK_DIR_PREFIX = "aurora-batch-stack-"
OWNER_PID_FILE = "owner.pid"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
HEALTH_CHECK_SECONDS = 1.0

VAULT_SECRET_PATH_AURORA = "secret/aurora/connection"  # noqa: S105 - a path, not a secret
VAULT_SECRET_PATH_SNOWFLAKE = "secret/snowflake/credentials"  # noqa: S105 - a path, not a secret


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_stack_dirs(temp_dir: Path | None = None) -> list[Path]:
    """Delete the directories of stacks whose owner process is gone (it was SIGKILLed)."""
    removed = []
    for stack_dir in Path(temp_dir or tempfile.gettempdir()).glob(f"{STACK_DIR_PREFIX}*"):
        try:
            owner = int((stack_dir / OWNER_PID_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        if not _pid_alive(owner):
            shutil.rmtree(stack_dir, ignore_errors=True)
            removed.append(stack_dir)
    return removed


class LocalStack:
    """The local stack. ``start()`` returns when every service answers and is seeded."""

    staging_bucket = "aurora-batch-staging"
    staging_prefix = "staging"
    state_table = "aurora_batch_state"
    snowflake_database = "ANALYTICS"
    snowflake_schema = "PUBLIC"
    snowflake_stage = "AURORA_BATCH_STAGE"
    snowflake_storage_integration = "AURORA_BATCH_S3"
    pg_database = "appdb"
    pg_app_role = "aurora_batch"

    def __init__(self, start_timeout: float = START_TIMEOUT_SECONDS) -> None:
        self._start_timeout = start_timeout
        self._root: Path | None = None
        self._postgres: PostgresServer | None = None
        self._moto: MotoServer | None = None
        self._vault: VaultServer | None = None
        self._snowflake: SnowflakeEmulatorServer | None = None
        self._pg: PostgresInfo | None = None
        self._snowflake_credentials: dict[str, str] = {}
        self.start_seconds = 0.0

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, _exc_type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def started(self) -> bool:
        return self._root is not None

    def start(self) -> LocalStack:
        if self.started:
            return self
        started_at = time.monotonic()
        remove_stale_stack_dirs()
        root = Path(tempfile.mkdtemp(prefix=STACK_DIR_PREFIX))
        root.chmod(0o711)  # PostgreSQL, running as postgres, must reach its directory inside
        (root / OWNER_PID_FILE).write_text(str(os.getpid()), encoding="utf-8")
        self._root = root
        atexit.register(self.stop)
        try:
            self._start_services(root)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started_at
        return self

    def _start_services(self, root: Path) -> None:
        log_dir = root / "logs"
        log_dir.mkdir(mode=0o700)
        pg_password = secrets.token_hex(16)
        self._snowflake_credentials = {
            "account": "aurora-batch-local",
            "user": "AURORA_BATCH",
            "password": secrets.token_hex(16),
            "warehouse": "COMPUTE_WH",
            "database": self.snowflake_database,
            "schema": self.snowflake_schema,
            "role": "AURORA_BATCH",
        }
        timeout = self._start_timeout

        # Spawn everything first (from this thread: see processes.py), then wait for each.
        self._postgres = postgres = PostgresServer(root, log_dir)
        postgres.begin_initdb()
        self._moto = moto = MotoServer(log_dir)
        moto.service.spawn()
        self._vault = vault = VaultServer(
            log_dir, secrets.token_hex(16), also_redact=[pg_password, self._snowflake_credentials["password"]]
        )
        vault.service.spawn()
        self._snowflake = snowflake_server = SnowflakeEmulatorServer(log_dir, lambda: moto.endpoint)
        snowflake_server.service.spawn()
        postgres.spawn_after_initdb(timeout)

        moto.service.wait_ready(timeout)
        if snowflake_server.s3_endpoint_at_launch != moto.endpoint:  # moto restarted on another port
            snowflake_server.service.respawn(STOP_TIMEOUT_SECONDS)
        for service in (vault.service, snowflake_server.service, postgres.service):
            service.wait_ready(timeout)

        self._pg = postgres.bootstrap(self.pg_app_role, pg_password, self.pg_database)
        moto.seed(self.staging_bucket, self.state_table)
        vault.seed(
            {
                VAULT_SECRET_PATH_AURORA: {
                    "host": self._pg.host,
                    "port": self._pg.port,
                    "database": self._pg.database,
                    "user": self._pg.user,
                    "password": self._pg.password,
                },
                VAULT_SECRET_PATH_SNOWFLAKE: self._snowflake_credentials,
            }
        )
        snowflake_server.create_objects(
            self._snowflake_credentials,
            SnowflakeObjects(
                database=self.snowflake_database,
                schema=self.snowflake_schema,
                stage=self.snowflake_stage,
                storage_integration=self.snowflake_storage_integration,
                stage_url=f"s3://{self.staging_bucket}/{self.staging_prefix}/",
            ),
        )

    def _children(self) -> list[ChildProcess]:
        children: list[ChildProcess] = []
        if self._postgres is not None:
            children += self._postgres.children()
        for server in (self._moto, self._vault, self._snowflake):
            if server is not None and server.service.child is not None:
                children.append(server.service.child)
        return children

    def child_pids(self) -> dict[str, int]:
        """The pid of each running child, by service name."""
        return {child.name: child.pid for child in self._children() if child.alive()}

    def failed_services(self) -> list[str]:
        """Services whose server process has exited since the stack started."""
        servers = (self._postgres, self._moto, self._vault, self._snowflake)
        return [
            s.service.name
            for s in servers
            if s is not None and s.service.child is not None and not s.service.child.alive()
        ]

    def stop(self) -> None:
        """Stop every child (SIGKILL after a timeout) and delete the stack's directory. Idempotent."""
        root = self._root
        if root is None:
            return
        atexit.unregister(self.stop)
        try:
            stop_all(self._children(), STOP_TIMEOUT_SECONDS)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            self._root = None
            self._postgres = self._moto = self._vault = self._snowflake = None

    # --- where things are ----------------------------------------------------------------------

    def _require(self, server: Any, name: str) -> Any:
        if server is None or not self.started:
            raise LocalStackError("the local stack is not started", service=name)
        return server

    @property
    def root_dir(self) -> Path:
        return Path(self._require(self._root, "stack"))

    @property
    def log_dir(self) -> Path:
        return self.root_dir / "logs"

    @property
    def pg(self) -> PostgresInfo:
        info: PostgresInfo = self._require(self._pg, "postgres")
        return info

    @property
    def moto_endpoint(self) -> str:
        moto: MotoServer = self._require(self._moto, "moto")
        return moto.endpoint

    @property
    def snowflake_endpoint(self) -> str:
        server: SnowflakeEmulatorServer = self._require(self._snowflake, "snowflake")
        return server.endpoint

    @property
    def vault_addr(self) -> str:
        vault: VaultServer = self._require(self._vault, "openbao")
        return vault.address

    @property
    def vault_token(self) -> str:
        vault: VaultServer = self._require(self._vault, "openbao")
        return vault.root_token

    @property
    def snowflake_credentials(self) -> dict[str, str]:
        """The secret seeded at secret/snowflake/credentials."""
        self._require(self._snowflake, "snowflake")
        return dict(self._snowflake_credentials)

    def env(self) -> dict[str, str]:
        """The Lambda-style environment that points the product at this stack."""
        return {
            "VAULT_ADDR": self.vault_addr,
            "VAULT_TOKEN": self.vault_token,
            "VAULT_SECRET_PATH_AURORA": VAULT_SECRET_PATH_AURORA,
            "VAULT_SECRET_PATH_SNOWFLAKE": VAULT_SECRET_PATH_SNOWFLAKE,
            "SNOWFLAKE_ENDPOINT": self.snowflake_endpoint,
            # Local-only transport: the emulator speaks plain http, PostgreSQL has no CA to verify.
            "SNOWFLAKE_ALLOW_INSECURE_ENDPOINT": "true",
            "AURORA_SSLMODE": "prefer",
            # The walkthroughs create tables of their own in public; configuration allows them.
            "ALLOWED_TABLES": "public.*",
            "STAGING_BUCKET": self.staging_bucket,
            "STAGING_PREFIX": self.staging_prefix,
            "SNOWFLAKE_STAGE": self.snowflake_stage,
            "STATE_TABLE": self.state_table,
            "AWS_ENDPOINT_URL": self.moto_endpoint,
            "AWS_ACCESS_KEY_ID": AWS_TEST_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_TEST_KEY,
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_REGION": AWS_REGION,
        }

    # --- conveniences for tests and the demo -------------------------------------------------

    def pg_connect(self, superuser: bool = False) -> psycopg2.extensions.connection:
        """A new psycopg2 connection to appdb: as the app role, or as the superuser (unix socket, trust)."""
        return psycopg2.connect(self.pg.superuser_dsn if superuser else self.pg.dsn)

    def create_pg_role(self, name: str, read_schemas: Sequence[str] = ("public",)) -> PostgresInfo:
        """A second login role that can read the given schemas (now and later tables of the app role)
        but, unlike the app role, is not a member of pg_read_all_stats."""
        postgres: PostgresServer = self._require(self._postgres, "postgres")
        info = postgres.create_login_role(name, secrets.token_hex(16), self.pg.database)
        with postgres.superuser_cursor(self.pg.database) as cursor:
            role = sql.Identifier(name)
            for schema_name in read_schemas:
                schema = sql.Identifier(schema_name)
                cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
                cursor.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, role))
                cursor.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                        sql.Identifier(self.pg.user), schema, role
                    )
                )
        return info

    def snowflake_connect(self, **kwargs: Any) -> snowflake.connector.SnowflakeConnection:
        """A real Snowflake connector connection to the emulator, in ANALYTICS.PUBLIC; kwargs override."""
        server: SnowflakeEmulatorServer = self._require(self._snowflake, "snowflake")
        return server.connect(self._snowflake_credentials, **kwargs)

    def snowflake_query_history(self) -> list[dict[str, Any]]:
        """Every statement the emulator received: session number, query tag and SQL text."""
        server: SnowflakeEmulatorServer = self._require(self._snowflake, "snowflake")
        return server.query_history()


def run_stack_up(stop_event: threading.Event | None = None, out: TextIO | None = None) -> int:
    """``aurora-batch stack up``: start the stack, print ``export NAME=value`` lines, block until
    SIGINT/SIGTERM (or stop_event), then tear down. Returns the exit code."""
    stream = out or sys.stdout
    stop = stop_event or threading.Event()
    previous_handlers: dict[int, Any] = {}

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[signum] = signal.signal(signum, request_stop)
    try:
        with LocalStack() as stack:
            for name, value in stack.env().items():
                print(f"export {name}={shlex.quote(value)}", file=stream)
            print(
                f"# local stack up in {stack.start_seconds:.1f}s; logs in {stack.log_dir}; Ctrl-C stops it",
                file=stream,
                flush=True,
            )
            while not stop.wait(HEALTH_CHECK_SECONDS):
                if failed := stack.failed_services():
                    print(f"aurora-batch: local stack service exited: {', '.join(failed)}", file=sys.stderr)
                    return 1
        return 0
    except DevStackError as exc:
        print(f"aurora-batch: {exc}", file=sys.stderr)
        return 1
    finally:
        for handled, handler in previous_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(handled, handler)
