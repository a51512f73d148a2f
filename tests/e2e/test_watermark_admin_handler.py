"""The watermark admin Lambda, invoked as its function URL (AWS_IAM) and directly, against the
state table on moto.

Every action goes through the handler; the audit trail (who, when, why, old and new values) is
read back through the handler's own `get`. Who acts is the principal AWS signed the request
with (`requestContext.authorizer.iam.userArn`), never what the caller writes."""

from __future__ import annotations

import base64
import copy
import io
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aurora_batch import observability
from aurora_batch.adapters.state_store import StateStore
from aurora_batch.errors import AdminAccessDeniedError, ConfigError, LeaseActiveError

from tests.support.lambda_fakes import FakeLambdaContext, load_event, load_handler

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/DataOps/bob"  # a session of a listed role
MALLORY = "arn:aws:sts::123456789012:assumed-role/Analyst/mallory"  # signed, but not listed
ADMIN_PRINCIPALS = f"{ALICE},arn:aws:sts::123456789012:assumed-role/DataOps/*"
FUNCTION = "aurora-batch-watermark-admin"


def state_store(stack: Any, clock: Any = time.time) -> StateStore:
    client = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    return StateStore(stack.state_table, client, clock)


@pytest.fixture
def admin_env(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin Lambda's environment: the state table and ADMIN_PRINCIPALS; no staging bucket,
    Vault or Snowflake."""
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "SNOWFLAKE_STAGE", "SNOWFLAKE_ENDPOINT", "STAGING_BUCKET"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN_PRINCIPALS)


@pytest.fixture
def table(admin_env: None) -> str:
    return f"a{secrets.token_hex(4)}.orders"


@pytest.fixture
def handler() -> Any:
    return load_handler("watermark_admin")


def event(name: str, table: str, **changes: Any) -> dict[str, Any]:
    loaded = {**load_event(name), "table": table, **changes}
    return {key: value for key, value in loaded.items() if value is not None}


def url_event(request: dict[str, Any], principal: str | None, *, base64_body: bool = False) -> dict[str, Any]:
    """The event a function URL with AWS_IAM authentication delivers: the request is the body, the
    signer is in the request context (absent: a request context without a signed principal)."""
    shaped = copy.deepcopy(load_event("admin_function_url.json"))
    body = json.dumps(request)
    shaped["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    shaped["isBase64Encoded"] = base64_body
    if principal is None:
        del shaped["requestContext"]["authorizer"]
    else:
        shaped["requestContext"]["authorizer"]["iam"]["userArn"] = principal
    return shaped


def invoke(handler: Any, request: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(request, context or FakeLambdaContext(function_name=FUNCTION))
    return result


def via_url(
    handler: Any, request: dict[str, Any], principal: str | None = ALICE, context: Any = None, *, expect: int = 200
) -> dict[str, Any]:
    """Send `request` through the function URL as `principal`; the decoded body of the response."""
    response = invoke(handler, url_event(request, principal), context)
    assert response["headers"]["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(response["body"])
    assert response["statusCode"] == expect, body
    return body


def get(handler: Any, table: str) -> dict[str, Any]:
    return invoke(handler, event("admin_get.json", table))


def unchanged(handler: Any, table: str) -> bool:
    """Nothing was written: no STATE item, no audit record."""
    state = get(handler, table)
    return state["state"]["version"] == 0 and state["audit"] == []


def test_every_action_is_audited_with_who_when_why_and_the_old_and_new_values(
    stack: Any, handler: Any, table: str
) -> None:
    started = datetime.now(UTC)
    assert get(handler, table)["state"]["version"] == 0

    # set: the column and its type given, since the table has never run.
    changed = via_url(handler, event("admin_set.json", table))
    assert changed["changed"] is True
    assert changed["actor"] == ALICE
    assert changed["new"]["watermark"] == "2024-03-01T00:00:00+00:00"
    assert changed["new"]["watermark_type"] == "timestamptz"
    assert changed["old"] == {"watermark": None, "watermark_type": None, "watermark_column": None}
    listed = via_url(handler, load_event("admin_list.json"))
    assert table in {state["table"] for state in listed["tables"]}

    # set, dry run: reported, not written, not audited.
    dry = via_url(handler, event("admin_set.json", table, value="2024-04-01T00:00:00+00:00", dry_run=True))
    assert dry["dry_run"] is True
    assert dry["new"] == {"watermark": "2024-04-01T00:00:00+00:00"}
    assert dry["audit_id"] is None
    assert get(handler, table)["state"]["watermark"] == "2024-03-01T00:00:00+00:00"

    # reset, by a session of a listed role: the next run is a full reload.
    via_url(handler, event("admin_reset.json", table), BOB)
    assert get(handler, table)["state"]["full_reload_requested"] is True
    assert get(handler, table)["state"]["watermark"] is None

    # unlock: a lease left by a run that died an hour ago.
    dead_run_clock = state_store(stack, clock=lambda: time.time() - 3600)
    dead_run_clock.acquire_lease(table, "20260101T000000Z-deadbeef", 900)
    unlocked = via_url(handler, event("admin_unlock.json", table))
    assert unlocked["old"]["lease_owner"] == "20260101T000000Z-deadbeef"
    assert unlocked["new"]["lease_owner"] is None

    finished = datetime.now(UTC)
    audit = get(handler, table)["audit"]
    assert [(record["action"], record["actor"]) for record in audit] == [
        ("unlock", ALICE),
        ("reset", BOB),
        ("set", ALICE),
    ]
    assert [record["reason"] for record in audit] == [
        load_event("admin_unlock.json")["reason"],
        load_event("admin_reset.json")["reason"],
        load_event("admin_set.json")["reason"],
    ]
    for record in audit:
        assert started - timedelta(seconds=1) <= datetime.fromisoformat(record["at"]) <= finished
    set_record = audit[2]
    assert set_record["old"]["watermark"] is None
    assert set_record["new"]["watermark"] == "2024-03-01T00:00:00+00:00"
    assert set_record["new"]["watermark_column"] == "updated_at"
    assert audit[1]["old"]["watermark"] == "2024-03-01T00:00:00+00:00"
    assert audit[1]["new"] == {"watermark": None, "watermark_type": None, "full_reload_requested": True}
    assert audit[0]["request_id"] == unlocked["audit_id"]


def test_a_live_lease_is_broken_only_with_force(stack: Any, handler: Any, table: str) -> None:
    lease = state_store(stack).acquire_lease(table, "20260101T000000Z-alive000", 900)

    refused = via_url(handler, event("admin_unlock.json", table), expect=409)
    assert refused["error"] == LeaseActiveError.__name__
    assert get(handler, table)["state"]["lease_live"] is True

    forced = via_url(handler, event("admin_unlock.json", table, force=True))
    assert forced["old"]["lease_owner"] == lease.owner
    assert get(handler, table)["state"]["lease_live"] is False
    assert get(handler, table)["audit"][0]["action"] == "unlock"


@pytest.mark.parametrize("name", ["admin_set.json", "admin_reset.json", "admin_unlock.json"])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_mutating_action_without_a_reason_is_refused(handler: Any, table: str, name: str, reason: str | None) -> None:
    request = _without(event(name, table), "reason")
    if reason is not None:
        request["reason"] = reason

    refused = via_url(handler, request, expect=400)

    assert refused["field"] == "reason"
    assert unchanged(handler, table)


def _without(request: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in request.items() if name != key}


def test_a_watermark_in_the_future_is_refused_unless_forced(handler: Any, table: str) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    refused = via_url(handler, event("admin_set.json", table, value=tomorrow), expect=400)
    assert refused["field"] == "value"
    assert get(handler, table)["state"]["watermark"] is None

    forced = via_url(handler, event("admin_set.json", table, value=tomorrow, force=True))
    assert forced["changed"] is True
    assert get(handler, table)["audit"][0]["new"]["watermark"] == forced["new"]["watermark"]


def test_a_value_that_does_not_fit_the_column_type_is_refused(handler: Any, table: str) -> None:
    via_url(handler, event("admin_set.json", table))

    via_url(handler, event("admin_set.json", table, value="not a timestamp", type=None, column=None), expect=400)
    refused = via_url(handler, event("admin_set.json", table, type="integer", column=None), expect=400)
    assert refused["field"] == "type"
    assert get(handler, table)["state"]["watermark"] == "2024-03-01T00:00:00+00:00"


# --- who is calling ------------------------------------------------------------------------------


def test_a_base64_encoded_body_is_read(handler: Any, table: str) -> None:
    response = invoke(handler, url_event(event("admin_set.json", table), ALICE, base64_body=True))

    assert response["statusCode"] == 200
    assert get(handler, table)["audit"][0]["actor"] == ALICE


@pytest.mark.parametrize("name", ["admin_set.json", "admin_reset.json", "admin_unlock.json"])
def test_a_direct_invocation_has_no_signed_caller_and_may_only_read(handler: Any, table: str, name: str) -> None:
    with pytest.raises(AdminAccessDeniedError) as refused:
        invoke(handler, event(name, table))

    assert "get and list" in str(refused.value)
    assert unchanged(handler, table)
    assert table not in {state["table"] for state in invoke(handler, load_event("admin_list.json"))["tables"]}


@pytest.mark.parametrize("name", ["admin_set.json", "admin_reset.json", "admin_unlock.json"])
def test_a_url_request_without_a_signed_principal_may_only_read(handler: Any, table: str, name: str) -> None:
    assert via_url(handler, event("admin_get.json", table), None)["state"]["version"] == 0
    assert "tables" in via_url(handler, load_event("admin_list.json"), None)

    refused = via_url(handler, event(name, table), None, expect=403)

    assert refused["error"] == AdminAccessDeniedError.__name__
    assert unchanged(handler, table)


@pytest.mark.parametrize("name", ["admin_set.json", "admin_reset.json", "admin_unlock.json"])
def test_a_principal_that_admin_principals_does_not_list_is_refused(handler: Any, table: str, name: str) -> None:
    refused = via_url(handler, event(name, table), MALLORY, expect=403)

    assert refused["principal"] == MALLORY
    assert MALLORY in refused["message"]
    assert unchanged(handler, table)
    # It may still read: reading needs only the function URL's own IAM check.
    assert via_url(handler, event("admin_get.json", table), MALLORY)["state"]["version"] == 0


def test_without_admin_principals_nobody_may_change_anything(
    handler: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADMIN_PRINCIPALS")

    refused = via_url(handler, event("admin_set.json", table), ALICE, expect=403)

    assert refused["principal"] == ALICE
    assert unchanged(handler, table)


def test_an_actor_written_by_the_caller_is_refused_and_never_audited(handler: Any, table: str) -> None:
    forged = "arn:aws:iam::123456789012:user/someone-else"

    in_body = via_url(handler, {**event("admin_set.json", table), "actor": forged}, MALLORY, expect=400)
    assert in_body["field"] == "actor"
    with pytest.raises(ConfigError) as in_event:
        invoke(handler, {**event("admin_set.json", table), "actor": forged})
    assert in_event.value.fields["field"] == "actor"
    with pytest.raises(ConfigError):
        invoke(handler, {**event("admin_get.json", table), "actor": forged})

    assert unchanged(handler, table)


@pytest.mark.parametrize(
    "context",
    [
        FakeLambdaContext(function_name=FUNCTION, client_context=SimpleNamespace(custom={"actor": "carol"})),
        FakeLambdaContext(function_name=FUNCTION, identity=SimpleNamespace(cognito_identity_id="us-east-1:42")),
    ],
)
def test_the_client_context_and_identity_never_name_the_actor(handler: Any, table: str, context: Any) -> None:
    with pytest.raises(AdminAccessDeniedError):
        invoke(handler, event("admin_reset.json", table), context)
    assert unchanged(handler, table)

    result = via_url(handler, event("admin_reset.json", table), BOB, context)

    assert result["actor"] == BOB
    (record,) = get(handler, table)["audit"]
    assert (record["action"], record["actor"]) == ("reset", BOB)


def test_an_overlong_reason_is_refused(handler: Any, table: str) -> None:
    refused = via_url(handler, event("admin_reset.json", table, reason="r" * 1001), expect=400)

    assert refused["field"] == "reason"
    assert unchanged(handler, table)


def test_the_signed_headers_are_not_logged(handler: Any, table: str) -> None:
    """A function URL event carries the caller's session token: the event is never logged."""
    original = getattr(observability.logger.registered_handler, "stream", None)
    buffer = io.StringIO()
    observability.set_log_stream(buffer)
    try:
        via_url(handler, event("admin_reset.json", table), BOB)
        via_url(handler, event("admin_reset.json", table), MALLORY, expect=403)
    finally:
        if original is not None:
            observability.set_log_stream(original)

    session_token = load_event("admin_function_url.json")["headers"]["x-amz-security-token"]
    assert session_token not in buffer.getvalue()
    assert "Signature=" not in buffer.getvalue()
    logged = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(line["message"], line["principal"]) for line in logged] == [
        ("admin request done", BOB),
        ("admin request refused", MALLORY),
    ]
