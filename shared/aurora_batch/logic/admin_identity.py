"""Who calls the admin function, as AWS signed it; never as the caller says.

Through the function URL (AWS_IAM authentication) the request context carries the principal ARN
that signed the request (`requestContext.authorizer.iam.userArn`; API Gateway with IAM
authentication: `requestContext.identity.userArn`), and the request itself is the HTTP body. A
direct Invoke (the console, the SDK) carries no signed principal: it may only get and list. An
`actor` written by the caller, in the event or the body, is refused; the client context is never
read. Mutating actions need a principal that ADMIN_PRINCIPALS matches.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from aurora_batch.errors import AdminAccessDeniedError, ConfigError

READ_ONLY_ACTIONS = frozenset({"get", "list"})
MAX_BODY_BYTES = 16 * 1024  # an admin request is a few hundred bytes


@dataclass(frozen=True)
class AdminCall:
    """One call: the request's fields, and the principal that signed it (None: not signed)."""

    request: dict[str, Any]
    principal: str | None
    via: str  # "function_url", "api_gateway" or "invoke"


def admin_call(event: Mapping[str, Any]) -> AdminCall:
    """Split an event into the request and its signed principal. A function URL or API Gateway
    event (it has a requestContext) carries the request as its JSON body."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return AdminCall(_without_actor(event), None, "invoke")
    iam = _mapping(_mapping(context.get("authorizer")).get("iam"))
    identity = _mapping(context.get("identity"))
    if iam.get("userArn"):
        principal, via = iam.get("userArn"), "function_url"
    else:
        principal, via = identity.get("userArn"), ("api_gateway" if identity else "function_url")
    if principal is not None and not (isinstance(principal, str) and principal.strip()):
        principal = None
    return AdminCall(_without_actor(_body(event)), principal, via)


def authorized_actor(action: Any, call: AdminCall, admin_principals: Sequence[str]) -> str | None:
    """The actor to audit: the signed principal. Refuses a mutating action without one, or with
    one that no ADMIN_PRINCIPALS pattern matches."""
    if action in READ_ONLY_ACTIONS:
        return call.principal
    if call.principal is None:
        raise AdminAccessDeniedError(
            f"action {action} needs a signed caller: call the function URL (AWS_IAM); "
            "a direct invocation may only get and list",
            action=str(action)[:20],
        )
    if not any(fnmatchcase(call.principal, pattern) for pattern in admin_principals):
        raise AdminAccessDeniedError(
            f"{call.principal} may not {action}: ADMIN_PRINCIPALS does not list it",
            principal=call.principal,
            action=str(action)[:20],
        )
    return call.principal


def _without_actor(request: Mapping[str, Any]) -> dict[str, Any]:
    if "actor" in request:
        raise ConfigError(
            "actor is not accepted from the caller: the audit records the signed principal",
            field="actor",
        )
    return dict(request)


def _body(event: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str) or len(raw) > MAX_BODY_BYTES * 2:
        raise ConfigError("the request body must be a JSON object of at most 16 KiB", field="body")
    try:
        text = base64.b64decode(raw, validate=True).decode() if event.get("isBase64Encoded") else raw
        body = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("the request body is not JSON", field="body") from exc
    if len(text.encode()) > MAX_BODY_BYTES or not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object of at most 16 KiB", field="body")
    return body


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
