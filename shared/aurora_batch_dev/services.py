"""The four servers of the local stack, each started on a free loopback port, and their seeding.

This package is dev/test tooling, never shipped in a Lambda zip, so it talks to psycopg2, boto3,
hvac and the Snowflake connector directly rather than through ``aurora_batch.adapters``: it plays
the administrator who creates what Terraform and the DBAs create in a real deployment.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import hvac
import psycopg2
import psycopg2.extensions
import requests
import snowflake.connector
from aurora_batch import state_schema
from psycopg2 import sql

from aurora_batch_dev.emulator_api import HEALTH_ROUTE, HISTORY_ROUTE
from aurora_batch_dev.errors import LocalStackError
from aurora_batch_dev.processes import (
    LOOPBACK,
    ChildProcess,
    PortService,
    RunAs,
    http_status,
    wait_until,
)
from aurora_batch_dev.tls import ServerCertificate, issue_server_certificate

PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
PG_SUPERUSER = "postgres"
AWS_REGION = "us-east-1"
AWS_TEST_KEY = "testing"  # moto accepts any credentials; these are the conventional dummies
# Children that need no inherited environment get this one: no secrets, no proxies, UTC.
MINIMAL_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}


# --- PostgreSQL ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresInfo:
    """How to reach the stack's PostgreSQL: the app role over loopback TCP (scram) and the superuser
    over the unix socket (trust)."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    superuser: str
    socket_dir: str

    @property
    def dsn(self) -> str:
        location = f"host={self.host} port={self.port} dbname={self.database}"
        return f"{location} user={self.user} password={self.password}"

    @property
    def superuser_dsn(self) -> str:
        return f"host={self.socket_dir} port={self.port} dbname={self.database} user={self.superuser}"


def _postgres_account() -> RunAs:
    try:
        account = pwd.getpwnam(PG_SUPERUSER)
    except KeyError as exc:
        raise LocalStackError(
            "PostgreSQL must not run as root and there is no 'postgres' user (install postgresql-15)",
            service="postgres",
        ) from exc
    return RunAs(account.pw_uid, account.pw_gid)


class PostgresServer:
    """initdb into the stack's directory, then ``postgres`` on a free port; as user postgres when root.

    With `tls`, the server has a certificate from a throwaway CA (`ca_pem`) and accepts TCP
    connections over TLS only."""

    def __init__(self, root: Path, log_dir: Path, bin_dir: Path = PG_BIN_DIR, *, tls: bool = False) -> None:
        self._bin_dir = bin_dir
        self._certificate = issue_server_certificate(LOOPBACK) if tls else None
        self._log_path = log_dir / "postgres.log"
        self.data_dir = root / "pg" / "data"
        self.socket_dir = root / "pg" / "run"
        self._run_as = _postgres_account() if os.geteuid() == 0 else None
        self._initdb: ChildProcess | None = None
        self.service = PortService("postgres", self._launch, self._accepts_superuser)

    def _binary(self, name: str) -> str:
        path = self._bin_dir / name
        if not path.exists():
            raise LocalStackError(f"{path} is missing: install PostgreSQL 15 (.ci/run does)", service="postgres")
        return str(path)

    def _prepare_dirs(self) -> None:
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, mode=0o700)
            if self._run_as is not None:
                os.chown(directory, self._run_as.uid, self._run_as.gid)
        if self._run_as is not None:
            os.chown(self.data_dir.parent, self._run_as.uid, self._run_as.gid)

    def begin_initdb(self) -> None:
        self._prepare_dirs()
        argv = [
            self._binary("initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={PG_SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]
        self._initdb = ChildProcess(
            "initdb",
            argv,
            log_path=self._log_path,
            env=MINIMAL_ENV,
            cwd=self.data_dir.parent,
            run_as=self._run_as,
        )

    def spawn_after_initdb(self, timeout: float) -> None:
        initdb = self._initdb
        assert initdb is not None, "begin_initdb() first"
        wait_until(lambda: initdb.popen.poll() == 0, timeout=timeout, child=initdb, waiting_for="initdb to finish")
        # The superuser comes in over the unix socket (trust); everyone else over TCP with a password.
        tcp = "hostssl" if self._certificate is not None else "host"
        (self.data_dir / "pg_hba.conf").write_text(
            f"# written by aurora_batch_dev\nlocal all all trust\n{tcp} all all 127.0.0.1/32 scram-sha-256\n",
            encoding="utf-8",
        )
        if self._certificate is not None:
            self._write_server_certificate(self._certificate)
        self.service.spawn()

    @property
    def ca_pem(self) -> str:
        if self._certificate is None:
            raise LocalStackError("this PostgreSQL server runs without TLS", service="postgres")
        return self._certificate.ca_pem

    def _write_server_certificate(self, certificate: ServerCertificate) -> None:
        for name, text in (("server.crt", certificate.cert_pem), ("server.key", certificate.key_pem)):
            path = self.data_dir / name
            path.write_text(text, encoding="ascii")
            path.chmod(0o600)  # PostgreSQL refuses a key others can read
            if self._run_as is not None:
                os.chown(path, self._run_as.uid, self._run_as.gid)

    def _launch(self, port: int) -> ChildProcess:
        settings = {
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
        }
        if self._certificate is not None:
            settings |= {"ssl": "on", "ssl_cert_file": "server.crt", "ssl_key_file": "server.key"}
        argv = [self._binary("postgres"), "-D", str(self.data_dir), "-p", str(port)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return ChildProcess(
            "postgres",
            argv,
            log_path=self._log_path,
            stop_signal=signal.SIGINT,  # fast shutdown: ends sessions, no waiting for clients
            parent_death_signal=signal.SIGQUIT,  # immediate shutdown, which also ends the backends
            env=MINIMAL_ENV,
            cwd=self.data_dir.parent,
            run_as=self._run_as,
        )

    def _superuser_dsn(self, port: int, database: str = "postgres") -> str:
        return f"host={self.socket_dir} port={port} dbname={database} user={PG_SUPERUSER}"

    def _accepts_superuser(self, port: int) -> bool:
        try:
            psycopg2.connect(self._superuser_dsn(port), connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    @contextlib.contextmanager
    def superuser_cursor(self, database: str = "postgres") -> Iterator[psycopg2.extensions.cursor]:
        with contextlib.closing(psycopg2.connect(self._superuser_dsn(self.service.port, database))) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                yield cursor

    def create_login_role(self, user: str, password: str, database: str) -> PostgresInfo:
        with self.superuser_cursor(database) as cursor:
            # Send a SCRAM verifier, so the plain password never reaches the server or its log.
            verifier = psycopg2.extensions.encrypt_password(password, user, cursor.connection, "scram-sha-256")
            cursor.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(user)), (verifier,))
        return PostgresInfo(
            host=LOOPBACK,
            port=self.service.port,
            database=database,
            user=user,
            password=password,
            superuser=PG_SUPERUSER,
            socket_dir=str(self.socket_dir),
        )

    def bootstrap(self, user: str, password: str, database: str) -> PostgresInfo:
        """The app role (LOGIN, pg_read_all_stats) and its database."""
        info = self.create_login_role(user, password, "postgres")
        with self.superuser_cursor() as cursor:
            cursor.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(user)))
            cursor.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(user))
            )
        return PostgresInfo(**{**info.__dict__, "database": database})

    def children(self) -> list[ChildProcess]:
        return [c for c in (self._initdb, self.service.child) if c is not None]


# --- moto ----------------------------------------------------------------------------------------


class MotoServer:
    """One moto server for S3, DynamoDB, STS, IAM and CloudWatch (logs and metrics)."""

    def __init__(self, log_dir: Path) -> None:
        self._log_path = log_dir / "moto.log"
        self.service = PortService("moto", self._launch, self._answers)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.service.port}"

    def _launch(self, port: int) -> ChildProcess:
        # DynamoDB requests one at a time, so conditional writes are atomic as in DynamoDB itself.
        argv = [sys.executable, "-m", "aurora_batch_dev.moto_server", "-H", LOOPBACK, "-p", str(port)]
        return ChildProcess("moto", argv, log_path=self._log_path, cwd=self._log_path.parent)

    def _answers(self, port: int) -> bool:
        return http_status(f"http://{LOOPBACK}:{port}/moto-api/") is not None

    def client(self, service_name: str) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=AWS_TEST_KEY, aws_secret_access_key=AWS_TEST_KEY, region_name=AWS_REGION
        )
        return session.client(service_name, endpoint_url=self.endpoint)

    def seed(self, bucket: str, state_table: str) -> None:
        self.client("s3").create_bucket(Bucket=bucket)
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=state_table,
            KeySchema=state_schema.KEY_SCHEMA,
            AttributeDefinitions=state_schema.ATTRIBUTE_DEFINITIONS,
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=state_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": state_schema.TTL_ATTRIBUTE},
        )


# --- OpenBao -------------------------------------------------------------------------------------

KV_MOUNT = "secret"  # the dev server mounts kv-v2 here


class VaultServer:
    """An OpenBao dev server (in memory, unsealed, kv-v2 at secret/) with a random root token.

    The token goes in through the environment, not argv (visible in ps), and the server's output,
    which prints it, is written to the log through a redacting pump.
    """

    def __init__(self, log_dir: Path, root_token: str, also_redact: Sequence[str] = ()) -> None:
        self._log_dir = log_dir
        self.root_token = root_token
        self._secrets = [root_token, *also_redact]
        self.service = PortService("openbao", self._launch, self._healthy)

    @property
    def address(self) -> str:
        return f"http://{LOOPBACK}:{self.service.port}"

    def _launch(self, port: int) -> ChildProcess:
        bao = Path(sys.executable).parent / "bao"
        argv = [str(bao), "server", "-dev", f"-dev-listen-address={LOOPBACK}:{port}", "-dev-no-store-token"]
        env = {**MINIMAL_ENV, "HOME": str(self._log_dir), "BAO_DEV_ROOT_TOKEN_ID": self.root_token}
        return ChildProcess(
            "openbao",
            argv,
            log_path=self._log_dir / "openbao.log",
            env=env,
            cwd=self._log_dir,
            secrets=self._secrets,
        )

    def _healthy(self, port: int) -> bool:
        return http_status(f"http://{LOOPBACK}:{port}/v1/sys/health") == 200

    def client(self) -> hvac.Client:
        session = requests.Session()
        session.trust_env = False  # never send the token through a proxy from the environment
        return hvac.Client(url=self.address, token=self.root_token, session=session)

    def seed(self, secrets_by_path: Mapping[str, Mapping[str, Any]]) -> None:
        """Write each secret at its ``secret/<path>`` (kv-v2). Values are never printed."""
        kv = self.client().secrets.kv.v2
        for path, secret in secrets_by_path.items():
            mount, _, sub_path = path.partition("/")
            kv.create_or_update_secret(path=sub_path, secret=dict(secret), mount_point=mount)


# --- the Snowflake emulator ------------------------------------------------------------------------


@dataclass(frozen=True)
class SnowflakeObjects:
    """What an administrator creates in Snowflake before the first run."""

    database: str
    schema: str
    stage: str
    storage_integration: str
    stage_url: str


class SnowflakeEmulatorServer:
    """``python -m aurora_batch_dev.snowflake_emulator``, reading S3 from moto."""

    def __init__(self, log_dir: Path, s3_endpoint: Callable[[], str]) -> None:
        self._log_path = log_dir / "snowflake.log"
        self._s3_endpoint = s3_endpoint
        self.s3_endpoint_at_launch = ""
        self.service = PortService("snowflake", self._launch, self._healthy)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.service.port}"

    def _launch(self, port: int) -> ChildProcess:
        self.s3_endpoint_at_launch = self._s3_endpoint()
        argv = [
            sys.executable,
            "-m",
            "aurora_batch_dev.snowflake_emulator",
            "--port",
            str(port),
            "--s3-endpoint",
            self.s3_endpoint_at_launch,
        ]
        return ChildProcess("snowflake", argv, log_path=self._log_path, cwd=self._log_path.parent)

    def _healthy(self, port: int) -> bool:
        return http_status(f"http://{LOOPBACK}:{port}{HEALTH_ROUTE}") == 200

    def connect(self, credentials: Mapping[str, str], **overrides: Any) -> snowflake.connector.SnowflakeConnection:
        session_parameters = {
            "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
            **overrides.pop("session_parameters", {}),
        }
        options: dict[str, Any] = {
            "account": credentials["account"],
            "user": credentials["user"],
            "password": credentials["password"],
            "warehouse": credentials["warehouse"],
            "database": credentials["database"],
            "schema": credentials["schema"],
            "role": credentials["role"],
            "host": LOOPBACK,
            "port": self.service.port,
            "protocol": "http",
            # Bounds retries only, not a long statement: the emulator's HTTP 500s are not transient.
            "network_timeout": 1,
            "login_timeout": 30,
            **overrides,
            "session_parameters": session_parameters,
        }
        return snowflake.connector.connect(**options)

    def create_objects(self, credentials: Mapping[str, str], objects: SnowflakeObjects) -> None:
        statements = [
            f"CREATE DATABASE IF NOT EXISTS {objects.database}",
            f"CREATE SCHEMA IF NOT EXISTS {objects.database}.{objects.schema}",
            f"CREATE STORAGE INTEGRATION IF NOT EXISTS {objects.storage_integration} TYPE = EXTERNAL_STAGE "
            "STORAGE_PROVIDER = 'S3' ENABLED = TRUE "
            "STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/aurora-batch-snowflake' "
            f"STORAGE_ALLOWED_LOCATIONS = ('{objects.stage_url}')",
            f"CREATE STAGE IF NOT EXISTS {objects.database}.{objects.schema}.{objects.stage} "
            f"URL = '{objects.stage_url}' STORAGE_INTEGRATION = {objects.storage_integration}",
        ]
        with contextlib.closing(self.connect(credentials)) as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def query_history(self) -> list[dict[str, Any]]:
        session = requests.Session()
        session.trust_env = False
        response = session.get(f"{self.endpoint}{HISTORY_ROUTE}", timeout=10)
        response.raise_for_status()
        queries: list[dict[str, Any]] = response.json()["queries"]
        return queries
