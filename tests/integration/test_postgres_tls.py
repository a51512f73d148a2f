"""TLS to PostgreSQL: both connections verify the server with the CA from the Aurora secret."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.config import TableOptions, settings_from_env
from aurora_batch.errors import SourceConnectionError
from aurora_batch.logic.invocation import run_table
from aurora_batch.wiring import Runtime
from aurora_batch_dev.processes import stop_all
from aurora_batch_dev.services import LOOPBACK, PostgresInfo, PostgresServer
from aurora_batch_dev.tls import issue_server_certificate

from tests.support.vault_secrets import TestSecrets

ROWS = 3000


@pytest.fixture(scope="module")
def tls_server(stack: Any) -> Iterator[tuple[PostgresServer, PostgresInfo]]:
    """A second PostgreSQL, TLS only, with a table of ROWS rows."""
    root = stack.root_dir / f"pg-tls-{secrets.token_hex(4)}"
    logs = root / "logs"
    logs.mkdir(parents=True)
    server = PostgresServer(root, logs, tls=True)
    try:
        server.begin_initdb()
        server.spawn_after_initdb(60.0)
        server.service.wait_ready(60.0)
        info = server.bootstrap("tls_app", secrets.token_hex(16), "tlsdb")
        with server.superuser_cursor("tlsdb") as cursor:
            cursor.execute("CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL)")
            cursor.execute(f"INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g")
            cursor.execute("ALTER TABLE public.items OWNER TO tls_app")
        yield server, info
    finally:
        stop_all(server.children(), 10.0)


def _source(info: PostgresInfo, ca_pem: str) -> PostgresSource:
    return PostgresSource.from_params(
        host=info.host,
        port=info.port,
        database=info.database,
        user=info.user,
        password=info.password,
        sslmode="verify-full",
        ssl_root_cert_pem=ca_pem,
    )


def test_the_server_takes_tcp_connections_over_tls_only(tls_server: tuple[PostgresServer, PostgresInfo]) -> None:
    _, info = tls_server
    with pytest.raises(psycopg2.OperationalError, match="no encryption"):
        psycopg2.connect(info.dsn, sslmode="disable").close()


def test_both_connections_verify_the_server_and_read_over_tls(
    tls_server: tuple[PostgresServer, PostgresInfo],
) -> None:
    server, info = tls_server
    with _source(info, server.ca_pem).snapshot() as snapshot:
        control = snapshot.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        sql = "SELECT id, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl FROM public.items"
        with snapshot.copy_batches(sql, batch_bytes=1 << 20) as raw:
            batches = list(raw)

    assert control == (True,)
    assert sum(batch.num_rows for batch in batches) == ROWS
    assert {value for batch in batches for value in batch.column(1).to_pylist()} == {True}


def _read_one(source: PostgresSource) -> int:
    with source.snapshot() as snapshot, snapshot.copy_batches("SELECT 1", batch_bytes=1 << 20) as raw:
        return sum(batch.num_rows for batch in raw)


def test_a_server_another_ca_signed_is_refused_by_both_connections(
    tls_server: tuple[PostgresServer, PostgresInfo],
) -> None:
    server, info = tls_server
    stranger = issue_server_certificate(LOOPBACK, ca_name="some other CA").ca_pem

    with pytest.raises(SourceConnectionError) as control:
        _read_one(_source(info, stranger))
    bulk_only = PostgresSource(
        connect=_source(info, server.ca_pem)._connect, connect_bulk=_source(info, stranger)._connect_bulk
    )
    with pytest.raises(SourceConnectionError) as bulk:
        _read_one(bulk_only)

    for raised in (control.value, bulk.value):
        assert "certificate verify failed" in str(raised)
        assert raised.fields["host"] == info.host
        assert info.password not in str(raised)


def test_a_run_verifies_aurora_with_the_ca_in_the_vault_secret(
    stack: Any, stack_env: dict[str, str], sf_schema: str, tls_server: tuple[PostgresServer, PostgresInfo]
) -> None:
    server, info = tls_server
    vault = TestSecrets(stack)
    try:
        path = vault.write(
            "aurora-tls",
            {
                "host": info.host,
                "port": str(info.port),
                "database": info.database,
                "user": info.user,
                "password": info.password,
                "sslmode": "verify-full",
                "sslrootcert": server.ca_pem,
            },
        )
        runtime = Runtime(settings_from_env({**os.environ, "VAULT_SECRET_PATH_AURORA": path}))

        report = run_table(TableOptions(schema_name="public", table_name="items", target_schema=sf_schema), runtime)
    finally:
        vault.delete_all()

    assert report.status == "succeeded", report.error
    assert report.rows_loaded == ROWS
