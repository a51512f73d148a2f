"""Snowflake adapter (snowflake-connector-python). The only module that imports the connector.

`SNOWFLAKE_ENDPOINT` is either a host (the PrivateLink host, HTTPS on 443) or a URL such
as `http://127.0.0.1:PORT` (how the local stack is reached). Every session carries the
run's query tag as a session parameter, so QUERY_HISTORY shows which run issued what.

No client-side statement timer: in connector 4.x `network_timeout` (or a per-call `timeout`)
starts a timer that cancels the running query when it fires. Statement limits come from the
session parameter STATEMENT_TIMEOUT_IN_SECONDS instead, and long statements (COPY, MERGE,
INSERT, INSERT OVERWRITE) are submitted with `execute_async` and followed by their query id,
so a statement can outlive the Lambda invocation that started it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import snowflake.connector
import snowflake.connector.errors

from aurora_batch.errors import LoadError, PermanentError, TargetAuthenticationError, TargetConnectionError

logger = logging.getLogger(__name__)

SESSION_TIMEZONE = "UTC"
SQLSTATE_CREDENTIALS_REJECTED = "28000"  # the connector's SQLSTATE for a refused password, key or JWT


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    protocol: str


def parse_endpoint(endpoint: str) -> Endpoint:
    """`host`, `host:port` or `scheme://host[:port]`."""
    if "://" in endpoint:
        parsed = urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"SNOWFLAKE_ENDPOINT must be a host or an http(s) URL, got {endpoint!r}")
        default_port = 443 if parsed.scheme == "https" else 80
        return Endpoint(parsed.hostname, parsed.port or default_port, parsed.scheme)
    host, _, port = endpoint.partition(":")
    if not host:
        raise ValueError(f"SNOWFLAKE_ENDPOINT must be a host or an http(s) URL, got {endpoint!r}")
    return Endpoint(host, int(port) if port else 443, "https")


def private_key_der(pem: str, passphrase: str | None) -> bytes:
    """Decrypt a PEM private key into the DER bytes the connector's key-pair login takes."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        # The message from cryptography never includes key material.
        raise PermanentError(
            "the Snowflake private_key cannot be loaded (wrong passphrase or not a PEM key)",
            key="private_key",
        ) from exc
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


class SnowflakeSession:
    """A connection with the few operations the loader needs."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        except snowflake.connector.errors.ProgrammingError as exc:
            raise LoadError(
                f"Snowflake rejected a statement: {exc.msg}", sqlstate=exc.sqlstate, errno=exc.errno
            ) from exc
        except snowflake.connector.errors.Error as exc:
            raise TargetConnectionError(f"Snowflake call failed: {type(exc).__name__}") from exc
        finally:
            cursor.close()

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql)
            names = [d[0].lower() for d in cursor.description or []]
            return names, list(cursor.fetchall())
        except snowflake.connector.errors.ProgrammingError as exc:
            raise LoadError(
                f"Snowflake rejected a statement: {exc.msg}", sqlstate=exc.sqlstate, errno=exc.errno
            ) from exc
        finally:
            cursor.close()

    def submit(self, sql: str) -> str:
        cursor = self._connection.cursor()
        try:
            cursor.execute_async(sql)
            query_id = cursor.sfqid
        except snowflake.connector.errors.ProgrammingError as exc:
            raise LoadError(
                f"Snowflake rejected a statement: {exc.msg}", sqlstate=exc.sqlstate, errno=exc.errno
            ) from exc
        except snowflake.connector.errors.Error as exc:
            raise TargetConnectionError(f"Snowflake call failed: {type(exc).__name__}") from exc
        finally:
            cursor.close()
        if not query_id:
            raise LoadError("Snowflake returned no query id for an asynchronous statement")
        return str(query_id)

    def query_finished(self, query_id: str) -> bool:
        with _submitted_statement_errors(query_id):
            status = self._connection.get_query_status_throw_if_error(query_id)
        return not self._connection.is_still_running(status)

    def query_result(self, query_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._connection.cursor()
        try:
            with _submitted_statement_errors(query_id):
                cursor.get_results_from_sfqid(query_id)
                rows = list(cursor.fetchall())
            names = [d[0].lower() for d in cursor.description or []]
            return names, rows
        finally:
            cursor.close()

    def close(self) -> None:
        try:
            self._connection.close()
        except snowflake.connector.errors.Error:
            logger.debug("closing the Snowflake connection failed", exc_info=True)


SessionFactory = Callable[[str], SnowflakeSession]  # query_tag -> session


def session_factory(
    *,
    endpoint: str | None,
    account: str,
    user: str,
    password: str | None,
    private_key: str | None,
    private_key_passphrase: str | None,
    warehouse: str | None,
    database: str,
    schema: str,
    role: str | None,
    login_timeout: int = 60,
    statement_timeout_seconds: int | None = None,
) -> SessionFactory:
    """Build a factory that opens one tagged session per run. Credentials stay in the closure.

    `statement_timeout_seconds` sets STATEMENT_TIMEOUT_IN_SECONDS (None keeps the account's value).
    """
    # TIMEZONE: with the account default (America/Los_Angeles) a wall-clock value would become a
    # TIMESTAMP_TZ in that zone; every instant the loader writes is UTC.
    parameters: dict[str, Any] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False, "TIMEZONE": SESSION_TIMEZONE}
    if statement_timeout_seconds is not None:
        parameters["STATEMENT_TIMEOUT_IN_SECONDS"] = statement_timeout_seconds

    def connect(query_tag: str) -> SnowflakeSession:
        options: dict[str, Any] = {
            "account": account,
            "user": user,
            "warehouse": warehouse,
            "database": database,
            "schema": schema,
            "role": role,
            "login_timeout": login_timeout,
            "session_parameters": {"QUERY_TAG": query_tag, **parameters},
            "application": "aurora-batch",
            "client_session_keep_alive": False,
        }
        if endpoint:
            target = parse_endpoint(endpoint)
            options.update(host=target.host, port=target.port, protocol=target.protocol)
        if private_key:
            options["private_key"] = private_key_der(private_key, private_key_passphrase)
            options["authenticator"] = "SNOWFLAKE_JWT"
        elif password:
            options["password"] = password
        else:
            raise PermanentError("the Snowflake secret has neither password nor private_key", key="password")
        try:
            return SnowflakeSession(snowflake.connector.connect(**{k: v for k, v in options.items() if v is not None}))
        except snowflake.connector.errors.Error as exc:
            message = f"cannot connect to Snowflake: {getattr(exc, 'msg', type(exc).__name__)}"
            if getattr(exc, "sqlstate", None) == SQLSTATE_CREDENTIALS_REJECTED:
                raise TargetAuthenticationError(message, account=account, user=user) from exc
            raise TargetConnectionError(message, account=account) from exc

    return connect


@contextlib.contextmanager
def _submitted_statement_errors(query_id: str) -> Iterator[None]:
    """A submitted statement's failure, named by its query id: the statement's own error is a
    LoadError, anything else a connection error."""
    try:
        yield
    except snowflake.connector.errors.ProgrammingError as exc:
        raise LoadError(
            f"Snowflake statement {query_id} failed: {exc.msg}",
            sqlstate=exc.sqlstate,
            errno=exc.errno,
            query_id=query_id,
        ) from exc
    except snowflake.connector.errors.Error as exc:
        raise TargetConnectionError(f"Snowflake call failed: {type(exc).__name__}", query_id=query_id) from exc
