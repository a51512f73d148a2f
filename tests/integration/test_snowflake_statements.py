"""Statements as Snowflake runs them (emulator_statements): a client-side timer cancels a running
statement, STATEMENT_TIMEOUT_IN_SECONDS limits it, and a statement submitted asynchronously runs on
without its client and is followed by its query id, from any session."""

from __future__ import annotations

import time
from typing import Any

import pytest
import snowflake.connector.errors
from aurora_batch.errors import LoadError

from tests.support.emulator_holds import holding
from tests.support.runs import stack_session_factory


@pytest.fixture
def scratch(stack: Any, sf_schema: str) -> str:
    connection = stack.snowflake_connect()
    try:
        connection.cursor().execute(f'CREATE TABLE "ANALYTICS"."{sf_schema}"."HELD" ("ID" NUMBER(10,0))')
    finally:
        connection.close()
    return f'"ANALYTICS"."{sf_schema}"."HELD"'


def _wait_finished(session: Any, query_id: str) -> None:
    deadline = time.monotonic() + 30
    while not session.query_finished(query_id):
        assert time.monotonic() < deadline, "the released statement never finished"


def test_the_connectors_client_timer_cancels_the_running_statement(stack: Any, scratch: str) -> None:
    # Why the loader sets no network_timeout: in connector 4.x the timer cancels the query itself.
    connection = stack.snowflake_connect()
    try:
        with holding(stack, r"^INSERT INTO .*HELD"), pytest.raises(snowflake.connector.errors.ProgrammingError) as info:
            connection.cursor().execute(f"INSERT INTO {scratch} SELECT 1", timeout=1)
        assert info.value.errno == 604
        assert connection.cursor().execute(f"SELECT COUNT(*) FROM {scratch}").fetchone() == (0,)
    finally:
        connection.close()


def test_statement_timeout_in_seconds_limits_a_statement(stack: Any, scratch: str) -> None:
    session = stack_session_factory(stack, statement_timeout_seconds=1)("test:timeout")
    try:
        with holding(stack, r"^INSERT INTO .*HELD"), pytest.raises(LoadError) as info:
            session.execute(f"INSERT INTO {scratch} SELECT 1")
        assert info.value.fields["errno"] == 630
    finally:
        session.close()


def test_a_submitted_statement_runs_on_and_is_followed_by_its_query_id_from_another_session(
    stack: Any, scratch: str
) -> None:
    factory = stack_session_factory(stack)
    first, second = factory("test:submit"), factory("test:follow")
    try:
        with holding(stack, r"^INSERT INTO .*HELD") as holds:
            query_id = first.submit(f"INSERT INTO {scratch} SELECT 7")
            first.close()  # the invocation that started it is gone
            assert not second.query_finished(query_id)
            holds.release()
            _wait_finished(second, query_id)
        names, rows = second.query_result(query_id)
        assert (names, rows) == (["number of rows inserted"], [(1,)])
        assert second.execute(f"SELECT ID FROM {scratch}") == [(7,)]
    finally:
        second.close()


def test_a_failed_submitted_statement_raises_with_its_query_id(stack: Any, scratch: str) -> None:
    session = stack_session_factory(stack)("test:fail")
    try:
        query_id = session.submit(f"INSERT INTO {scratch} SELECT 'not a number'")
        with pytest.raises(LoadError) as info:
            _wait_finished(session, query_id)
        assert info.value.fields["query_id"] == query_id
    finally:
        session.close()
