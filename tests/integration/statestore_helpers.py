"""Helpers for tests of the DynamoDB state store: a client on the local stack's moto server, a
fresh state table per test module, a manual clock, and a client wrapper that lets a competing
writer in just before a chosen call."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aurora_batch.adapters.state_store import StateStore
from aurora_batch.state_schema import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA
from aurora_batch_dev.processes import LOOPBACK, ChildProcess, PortService, stop_all, tcp_accepts
from botocore.config import Config

REGION = "us-east-1"
SERVER_START_SECONDS = 60.0
SERVER_STOP_SECONDS = 10.0


def dynamodb_client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32),
    )


@contextlib.contextmanager
def atomic_moto_endpoint(log_dir: Path) -> Iterator[str]:
    """A private moto server whose DynamoDB writes are atomic (aurora_batch_dev.moto_server)."""
    service = PortService(
        "moto-atomic",
        lambda port: ChildProcess(
            "moto-atomic",
            [sys.executable, "-m", "aurora_batch_dev.moto_server", "-p", str(port)],
            log_path=log_dir / "moto-atomic.log",
        ),
        tcp_accepts,
    )
    service.spawn()
    try:
        service.wait_ready(SERVER_START_SECONDS)
        yield f"http://{LOOPBACK}:{service.port}"
    finally:
        if service.child is not None:
            stop_all([service.child], SERVER_STOP_SECONDS)


def create_state_table(client: Any) -> str:
    """A new, empty state table with the production key schema; returns its name."""
    name = f"state-{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return name


class ManualClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InterleavingClient:
    """The real DynamoDB client, except that `competing_write` runs once, just before the first
    call of `operation`: a deterministic way to lose an optimistic-concurrency race."""

    def __init__(self, client: Any, operation: str, competing_write: Callable[[], object]) -> None:
        self._client = client
        self._operation = operation
        self._competing_write: Callable[[], object] | None = competing_write
        self.interleaved = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation or self._competing_write is None:
            return method

        def interleaved_call(**request: Any) -> Any:
            competing_write, self._competing_write = self._competing_write, None
            if competing_write is not None:
                competing_write()
                self.interleaved = True
            return method(**request)

        return interleaved_call


# Fixtures shared by the state-store test modules; each module imports them by function name,
# so every module gets its own fresh DynamoDB table.


@pytest.fixture(name="client", scope="module")
def client_fixture(stack: Any) -> Any:
    """A DynamoDB client on the local stack's moto server."""
    return dynamodb_client(str(stack.moto_endpoint))


@pytest.fixture(name="state_table", scope="module")
def state_table_fixture(client: Any) -> str:
    return create_state_table(client)


@pytest.fixture(name="clock")
def clock_fixture() -> ManualClock:
    return ManualClock()


@pytest.fixture(name="store")
def store_fixture(state_table: str, client: Any, clock: ManualClock) -> StateStore:
    return StateStore(state_table, client, clock=clock)


@pytest.fixture(name="table")
def table_fixture() -> str:
    """A source table name no other test uses, so tests can share one DynamoDB table."""
    return f"public.t_{uuid.uuid4().hex[:10]}"
