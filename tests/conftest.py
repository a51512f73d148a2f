"""Shared pytest fixtures.

The local stack starts once per test session, and only when a test asks for ``stack`` (or a
fixture built on it): tests/unit never asks, so unit runs start no server.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aurora_batch_dev import LocalStack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """The local stack (PostgreSQL, moto, OpenBao, Snowflake emulator), started and seeded."""
    from aurora_batch_dev import LocalStack  # imported here: unit tests never pay for it

    with LocalStack() as started:
        yield started


@pytest.fixture
def stack_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The stack's Lambda-style environment, set in os.environ for this test only."""
    env = stack.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def pg_schema(stack: LocalStack) -> Iterator[str]:
    """A fresh PostgreSQL schema in appdb, owned by the app role, dropped after the test."""
    name = f"t_{secrets.token_hex(6)}"
    admin = stack.pg_connect(superuser=True)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{stack.pg.user}"')
        yield name
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        admin.close()


@pytest.fixture
def sf_schema(stack: LocalStack, pg_schema: str) -> Iterator[str]:
    """A Snowflake schema named after the test's PostgreSQL schema, so targets never collide."""
    from aurora_batch.model import snowflake_name

    name = snowflake_name(pg_schema)
    connection = stack.snowflake_connect()
    try:
        connection.cursor().execute(f'CREATE SCHEMA IF NOT EXISTS "{stack.snowflake_database}"."{name}"')
        yield name
        connection.cursor().execute(f'DROP SCHEMA IF EXISTS "{stack.snowflake_database}"."{name}" CASCADE')
    finally:
        connection.close()


@pytest.fixture
def pg_tables(stack: LocalStack, pg_schema: str) -> Callable[[str], str]:
    """Runs SQL that names the test's PostgreSQL schema as `{schema}`; returns the schema."""

    def create(sql: str) -> str:
        with stack.pg_connect() as connection, connection.cursor() as cursor:
            cursor.execute(sql.format(schema=f'"{pg_schema}"'))
        return pg_schema

    return create


@pytest.fixture
def replication_handler(stack_env: dict[str, str]) -> Any:
    """services/replication/handler.py loaded afresh, so its runtime reads this test's environment."""
    from tests.support.lambda_fakes import load_handler

    module = load_handler("replication")
    module.runtime.cache_clear()
    return module
