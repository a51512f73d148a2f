"""The local Snowflake: fakesnow's HTTP server with the shims of ``snowflake_shims`` and S3 through moto.

Run as ``python -m aurora_batch_dev.snowflake_emulator --port P --s3-endpoint http://127.0.0.1:M``.
The real Snowflake connector talks to it with ``host=127.0.0.1, port=P, protocol="http"``.

Besides fakesnow's routes it serves the two routes of ``emulator_api``, for tests and tooling.
Key-pair (SNOWFLAKE_JWT) logins are verified against the keys registered with ``ALTER USER``
(see ``emulator_keypair``); password logins are accepted unchecked, as fakesnow does.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import duckdb
import duckdb_extension_httpfs
import fakesnow.server as fakesnow_server
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aurora_batch_dev import emulator_fidelity
from aurora_batch_dev.emulator_api import HEALTH_ROUTE, HISTORY_ROUTE, HOLDS_ROUTE
from aurora_batch_dev.emulator_keypair import KEYPAIR_AUTHENTICATOR, UserPublicKeys, verify_keypair_jwt
from aurora_batch_dev.emulator_statements import StatementControl
from aurora_batch_dev.errors import EmulatorLoginError, EmulatorStatementError
from aurora_batch_dev.snowflake_shims import SHIMS, SessionState, ShimContext, ShimResult, find_shim

QUERY_ROUTE = "/queries/v1/query-request"
ABORT_ROUTE = "/queries/v1/abort-request"
MONITORING_ROUTE = "/monitoring/queries/{sfqid}"
LOGIN_ROUTE = "/session/v1/login-request"
HISTORY_LIMIT = 10_000  # statements kept, so a long demo run holds bounded memory
S3_REGION = "us-east-1"
S3_KEY = "testing"  # moto accepts any credentials; these are the conventional dummies

logger = logging.getLogger("aurora_batch_dev.snowflake_emulator")


def httpfs_extension_path() -> Path:
    """The httpfs build shipped by the duckdb-extension-httpfs wheel for the installed DuckDB."""
    package_dir = Path(duckdb_extension_httpfs.__file__).parent
    return package_dir / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"


def connect_duckdb_to_s3(duck: duckdb.DuckDBPyConnection, s3_endpoint: str) -> None:
    """Let DuckDB (and so COPY INTO from an external stage) read s3:// URLs from moto."""
    duck.execute(f"LOAD '{httpfs_extension_path()}'")
    endpoint = urlparse(s3_endpoint)
    duck.execute(
        "CREATE OR REPLACE SECRET aurora_batch_moto (TYPE S3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, "
        "URL_STYLE 'path', USE_SSL ?)",
        [S3_KEY, S3_KEY, S3_REGION, endpoint.netloc, endpoint.scheme == "https"],
    )


class MotoStageObjects:
    """Deletes staged objects in the moto S3 server, for the REMOVE shim."""

    def __init__(self, s3_endpoint: str) -> None:
        self._client = boto3.session.Session(
            aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY, region_name=S3_REGION
        ).client("s3", endpoint_url=s3_endpoint)

    def remove(self, url_prefix: str, pattern: re.Pattern[str] | None) -> list[str]:
        location = urlparse(url_prefix)
        bucket, prefix = location.netloc, location.path.lstrip("/")
        keys = [
            item["Key"]
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if pattern is None or pattern.fullmatch(item["Key"])
        ]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        return [f"s3://{bucket}/{key}" for key in keys]


class EmulatorState:
    """Per-session query tags and a bounded query history, keyed by fakesnow's session token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionState] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LIMIT)

    def open_session(
        self, token: str, query_tag: str | None, role: str | None = None, statement_timeout: int | None = None
    ) -> None:
        with self._lock:
            self._sessions[token] = SessionState(len(self._sessions) + 1, query_tag, role, statement_timeout)

    def session(self, token: str) -> SessionState | None:
        with self._lock:
            return self._sessions.get(token)

    def record(self, session: SessionState | None, sql_text: str) -> None:
        with self._lock:
            self.history.append(
                {
                    "session": session.number if session else None,
                    "query_tag": session.query_tag if session else None,
                    "sql_text": sql_text,
                }
            )


def _session_token(request: Request) -> str:
    # The connector sends 'Snowflake Token="<token>"', which fakesnow parses the same way.
    return request.headers.get("Authorization", "")[17:-1]


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()  # Starlette caches it, so fakesnow's handler can read it again
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _success(ctx: ShimContext, result: ShimResult) -> JSONResponse:
    """The JSON fakesnow sends for a successful statement, with text columns."""
    rowtype = [
        {
            "name": name,
            "database": "",
            "schema": "",
            "table": "",
            "nullable": True,
            "type": "text",
            "byteLength": 16777216,
            "length": 16777216,
            "scale": None,
            "precision": None,
            "collation": None,
        }
        for name in result.columns
    ]
    return JSONResponse(
        {
            "data": {
                "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
                "rowtype": rowtype,
                "total": len(result.rows),
                "queryId": str(uuid.uuid4()),
                "statementTypeId": result.statement_type_id,
                "finalDatabaseName": ctx.conn.database,
                "finalSchemaName": ctx.conn.schema,
                "queryResultFormat": "json",
                "rowset": [list(row) for row in result.rows],
            },
            "success": True,
        }
    )


def _failure(errno: int, sqlstate: str, message: str) -> JSONResponse:
    """The JSON fakesnow sends for a statement Snowflake rejects; the connector raises ProgrammingError."""
    code = f"{errno:06d}"
    return JSONResponse(
        {
            "data": {"errorCode": code, "sqlState": sqlstate},
            "code": code,
            "message": message,
            "success": False,
        }
    )


def _statement_error_not_server_error(response: Response) -> Response:
    """Snowflake answers a failing statement with HTTP 200 and `success: false`; fakesnow answers
    statements it cannot run with HTTP 500, which the connector retries until its network timeout
    (minutes). Pass such failures on as the statement errors they are."""
    if response.status_code != 500:
        return response
    body = json.loads(bytes(response.body))
    return _failure(1003, "42000", str(body.get("message") or "statement failed in the emulator"))


def _login_failure(exc: EmulatorLoginError) -> JSONResponse:
    """Snowflake's answer to a refused login (HTTP 200, success false); the connector raises
    DatabaseError with the code as errno and SQLSTATE 28000 for credential rejections."""
    return JSONResponse(
        {
            "data": {"nextAction": None, "authnMethod": "KEY_PAIR"},
            "code": str(exc.fields["errno"]),
            "message": f"{exc.message} [{uuid.uuid4()}]",
            "success": False,
            "headers": None,
        }
    )


def build_app(stage_objects: MotoStageObjects | None) -> Starlette:
    state = EmulatorState()
    user_keys = UserPublicKeys()
    control = StatementControl()

    async def login(request: Request) -> Response:
        login_data = (await _json_body(request))["data"]
        if login_data.get("AUTHENTICATOR") == KEYPAIR_AUTHENTICATOR:
            user = str(login_data.get("LOGIN_NAME", ""))
            try:
                verify_keypair_jwt(
                    str(login_data.get("TOKEN", "")),
                    account=str(login_data.get("ACCOUNT_NAME", "")),
                    user=user,
                    keys=user_keys,
                )
            except EmulatorLoginError as exc:
                logger.warning("key-pair login of %s refused: %s", user, exc.fields.get("reason"))
                return _login_failure(exc)
        response = await fakesnow_server.login_request(request)
        answer = json.loads(bytes(response.body))
        if answer.get("success"):
            session_parameters = login_data.get("SESSION_PARAMETERS", {})
            timeout = session_parameters.get("STATEMENT_TIMEOUT_IN_SECONDS")
            role = request.query_params.get("roleName")
            state.open_session(
                answer["data"]["token"],
                session_parameters.get("QUERY_TAG"),
                role.upper() if role else None,
                int(timeout) if timeout is not None else None,
            )
        return response

    async def query(request: Request) -> Response:
        body = await _json_body(request)
        sql_text = str(body.get("sqlText", ""))
        session = state.session(_session_token(request))
        if (scanned := control.result_scan(sql_text)) is not None:
            return scanned
        state.record(session, sql_text)
        request_id = request.query_params.get("requestId")
        timeout = session.statement_timeout if session else None
        if body.get("asyncExec"):
            return control.submit(request_id, sql_text, timeout, lambda: execute(request, sql_text))
        return await control.run(request_id, sql_text, timeout, lambda: execute(request, sql_text))

    async def abort(request: Request) -> JSONResponse:
        request_id = str((await _json_body(request)).get("requestId", ""))
        control.cancel(request_id)
        return JSONResponse({"data": None, "success": True})

    async def monitoring(request: Request) -> Response:
        found = control.status(request.path_params["sfqid"])
        return found if found is not None else fakesnow_server.monitoring_query(request)

    async def holds(request: Request) -> JSONResponse:
        if request.method == "POST":
            control.hold(str((await _json_body(request))["pattern"]))
        elif request.method == "DELETE":
            control.release()
        return JSONResponse({"patterns": [p.pattern for p in control.hold_patterns], "held": control.held})

    async def execute(request: Request, sql_text: str) -> Response:
        token = _session_token(request)
        session = state.session(token)
        found = find_shim(sql_text)
        conn = fakesnow_server.sessions.get(token)
        if found is None or session is None or conn is None:
            return _statement_error_not_server_error(await fakesnow_server.query_request(request))
        shim, match = found
        ctx = ShimContext(conn, session, stage_objects, user_keys)
        logger.info("shim %s handles session %d statement", shim.name, session.number)
        try:
            result = await run_in_threadpool(shim.handler, ctx, match)
        except EmulatorStatementError as exc:
            return _failure(int(exc.fields["errno"]), str(exc.fields["sqlstate"]), exc.message)
        except duckdb.Error as exc:
            return _failure(1003, "42000", f"SQL execution error: {exc}")
        return _success(ctx, result)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "shims": [s.name for s in SHIMS]})

    async def query_history(request: Request) -> JSONResponse:
        return JSONResponse({"queries": list(state.history)})

    overridden = {QUERY_ROUTE, LOGIN_ROUTE, ABORT_ROUTE, MONITORING_ROUTE}
    fakesnow_routes = [r for r in fakesnow_server.routes if getattr(r, "path", None) not in overridden]
    return Starlette(
        routes=[
            Route(LOGIN_ROUTE, login, methods=["POST"]),
            Route(QUERY_ROUTE, query, methods=["POST"]),
            Route(ABORT_ROUTE, abort, methods=["POST"]),
            Route(MONITORING_ROUTE, monitoring, methods=["GET"]),
            Route(HOLDS_ROUTE, holds, methods=["GET", "POST", "DELETE"]),
            Route(HEALTH_ROUTE, health, methods=["GET"]),
            Route(HISTORY_ROUTE, query_history, methods=["GET"]),
            *fakesnow_routes,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--s3-endpoint", required=True, help="moto's URL, e.g. http://127.0.0.1:5000")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    connect_duckdb_to_s3(fakesnow_server.shared_fs.duck_conn, args.s3_endpoint)
    emulator_fidelity.apply_all()
    app = build_app(MotoStageObjects(args.s3_endpoint))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
