"""Running replications from tests: the real runtime against the local stack, with an optional
fault injector around the real Snowflake session (it never answers for Snowflake: it only
raises, or runs a callback, before passing a statement on)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from aurora_batch.adapters.snowflake import SnowflakeSession
from aurora_batch.config import TableOptions, settings_from_env
from aurora_batch.errors import LoadError
from aurora_batch.logic.replicate import Budget, TableReplication
from aurora_batch.wiring import Runtime


def make_runtime(**overrides: str) -> Runtime:
    return Runtime(settings_from_env({**os.environ, **overrides}))


class FaultInjectingSession:
    """Passes statements to the real session; before one matching `pattern`, runs `before` or raises."""

    def __init__(
        self,
        real: SnowflakeSession,
        pattern: str,
        *,
        before: Callable[[str], None] | None = None,
        fail: bool = True,
    ) -> None:
        self._real, self._pattern, self._before, self._fail = real, re.compile(pattern), before, fail
        self.statements: list[str] = []

    def _check(self, sql: str) -> None:
        self.statements.append(sql)
        if self._pattern.search(sql):
            if self._before is not None:
                self._before(sql)
            if self._fail:
                raise LoadError("injected failure", statement=self._pattern.pattern)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        self._check(sql)
        return self._real.execute(sql, params)

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        self._check(sql)
        return self._real.execute_with_columns(sql)

    def submit(self, sql: str) -> str:
        self._check(sql)
        return self._real.submit(sql)

    def query_finished(self, query_id: str) -> bool:
        return self._real.query_finished(query_id)

    def query_result(self, query_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self._real.query_result(query_id)

    def close(self) -> None:
        self._real.close()


def replicate(
    options: TableOptions,
    runtime: Runtime | None = None,
    *,
    wrap_session: Callable[[SnowflakeSession], Any] | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    runtime = runtime or make_runtime()
    services = runtime.services()
    if wrap_session is not None:
        connect = services.snowflake
        services.snowflake = lambda tag: wrap_session(connect(tag))
    try:
        return TableReplication(options, runtime.settings, services, budget=budget).run().to_dict()
    finally:
        services.staging.close()


def stack_session_factory(stack: Any, **overrides: Any) -> Callable[[str], SnowflakeSession]:
    """The product's own Snowflake session factory, pointed at the stack's emulator with the
    seeded credentials; keyword arguments replace any of them (user, private_key, ...)."""
    from aurora_batch.adapters.snowflake import session_factory

    credentials = stack.snowflake_credentials
    options: dict[str, Any] = {
        "endpoint": stack.snowflake_endpoint,
        "account": credentials["account"],
        "user": credentials["user"],
        "password": credentials["password"],
        "private_key": None,
        "private_key_passphrase": None,
        "warehouse": credentials["warehouse"],
        "database": credentials["database"],
        "schema": credentials["schema"],
        "role": credentials["role"],
    }
    return session_factory(**{**options, **overrides})
