"""Statement execution as Snowflake runs it: asynchronous queries, cancellation and time limits.

fakesnow runs every statement to completion inside the HTTP request, answers an asynchronous
submission only once the statement is done, ignores a client's abort request and every time
limit. A loader written against it can wait on a connection for as long as a statement runs, be
cancelled by its own client-side timer in Snowflake, and never notice. The emulator's query route
runs each statement through ``StatementControl``, which follows Snowflake:

- ``asynchronous_queries``: a statement submitted with ``asyncExec`` (the connector's
  ``execute_async``) answers at once with its query id (code 333334) and runs on; its status is
  served at ``/monitoring/queries/<id>`` (RUNNING, SUCCESS, FAILED_WITH_ERROR) to any session, and
  its result to ``RESULT_SCAN('<id>')``.
  https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-example#performing-an-asynchronous-query
- ``client_cancel``: ``/queries/v1/abort-request`` (sent by the connector when its
  ``network_timeout`` or per-call ``timeout`` timer fires) cancels the running statement, which
  then fails with 000604 "SQL execution canceled".
  https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api#connect
- ``statement_timeout``: STATEMENT_TIMEOUT_IN_SECONDS (a login session parameter or ALTER SESSION)
  cancels a statement that runs longer, with 000630.
  https://docs.snowflake.com/en/sql-reference/parameters#statement-timeout-in-seconds

Tests hold statements running with the holds route (see ``emulator_api``): a statement whose text
matches a held pattern waits, as a long statement would, until the holds are released.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

CANCELED_ERRNO, TIMEOUT_ERRNO, CANCELED_SQLSTATE = 604, 630, "57014"
ASYNC_IN_PROGRESS = "333334"
_RESULT_SCAN = re.compile(
    r"\s*select\s+\*\s+from\s+table\s*\(\s*result_scan\s*\(\s*'(?P<id>[0-9a-f-]{36})'\s*\)\s*\)\s*;?\s*",
    re.IGNORECASE,
)

Execute = Callable[[], Awaitable[Response]]


def failure_body(errno: int, sqlstate: str, message: str) -> dict[str, Any]:
    code = f"{errno:06d}"
    return {"data": {"errorCode": code, "sqlState": sqlstate}, "code": code, "message": message, "success": False}


@dataclass
class AsyncQuery:
    query_id: str
    answer: dict[str, Any] | None = None  # the statement's JSON answer once it has finished


@dataclass
class StatementControl:
    """Holds, cancellations, time limits and asynchronous queries; used from the server's event loop."""

    hold_patterns: list[re.Pattern[str]] = field(default_factory=list)
    held: int = 0
    _release: asyncio.Event | None = None
    _running: dict[str, asyncio.Task[Response]] = field(default_factory=dict)  # request id -> statement
    _queries: dict[str, AsyncQuery] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # --- holds (tests) ---

    def hold(self, pattern: str) -> None:
        self.hold_patterns.append(re.compile(pattern, re.IGNORECASE | re.DOTALL))

    def release(self) -> None:
        self.hold_patterns.clear()
        if self._release is not None:
            self._release.set()
            self._release = None

    async def _wait_if_held(self, sql_text: str) -> None:
        if not any(p.search(sql_text) for p in self.hold_patterns):
            return
        if self._release is None:
            self._release = asyncio.Event()
        release = self._release
        self.held += 1
        try:
            await release.wait()
        finally:
            self.held -= 1

    # --- running ---

    async def run(self, request_id: str | None, sql_text: str, timeout: int | None, execute: Execute) -> Response:
        """Run one statement; a cancellation or its time limit ends it as Snowflake would."""

        async def held_then_executed() -> Response:
            await self._wait_if_held(sql_text)
            return await execute()

        task = asyncio.ensure_future(held_then_executed())
        key = request_id or uuid.uuid4().hex
        self._running[key] = task
        try:
            return await asyncio.wait_for(task, timeout=timeout or None)
        except TimeoutError:
            message = f"Statement reached its statement or warehouse timeout of {timeout} second(s) and was canceled."
            return JSONResponse(failure_body(TIMEOUT_ERRNO, CANCELED_SQLSTATE, message))
        except asyncio.CancelledError:
            if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # the server itself is shutting down
            return JSONResponse(failure_body(CANCELED_ERRNO, CANCELED_SQLSTATE, "SQL execution canceled"))
        finally:
            self._running.pop(key, None)

    def cancel(self, request_id: str) -> bool:
        task = self._running.get(request_id)
        if task is None:
            return False
        task.cancel()
        return True

    def submit(self, request_id: str | None, sql_text: str, timeout: int | None, execute: Execute) -> JSONResponse:
        """Start a statement without waiting for it; answer with its query id as Snowflake does."""
        query = AsyncQuery(str(uuid.uuid4()))
        self._queries[query.query_id] = query

        async def run_detached() -> None:
            response = await self.run(request_id, sql_text, timeout, execute)
            answer = json.loads(bytes(response.body))
            if isinstance(answer.get("data"), dict):
                answer["data"]["queryId"] = query.query_id
            query.answer = answer

        task = asyncio.ensure_future(run_detached())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse(
            {
                "code": ASYNC_IN_PROGRESS,
                "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring "
                "and management.",
                "data": {"queryId": query.query_id, "getResultUrl": f"/queries/{query.query_id}/result"},
                "success": True,
            }
        )

    # --- monitoring and results ---

    def status(self, query_id: str) -> JSONResponse | None:
        """The monitoring answer for an asynchronous query, or None when the id is not one."""
        query = self._queries.get(query_id)
        if query is None:
            return None
        if query.answer is None:
            entry: dict[str, Any] = {"id": query_id, "status": "RUNNING"}
            return JSONResponse({"data": {"queries": [entry]}, "success": True})
        if query.answer.get("success"):
            return JSONResponse({"data": {"queries": [{"id": query_id, "status": "SUCCESS"}]}, "success": True})
        error = query.answer.get("data") or {}
        entry = {
            "id": query_id,
            "status": "FAILED_WITH_ERROR",
            "errorCode": int(error.get("errorCode", -1)),
            "errorMessage": str(query.answer.get("message", "")),
        }
        return JSONResponse({"data": {"queries": [entry], "sqlState": error.get("sqlState")}, "success": True})

    def result_scan(self, sql_text: str) -> JSONResponse | None:
        """``SELECT * FROM TABLE(RESULT_SCAN('<id>'))`` of a finished asynchronous query, else None."""
        match = _RESULT_SCAN.fullmatch(sql_text)
        query = self._queries.get(match["id"]) if match else None
        if query is None or query.answer is None:
            return None
        return JSONResponse(query.answer)
