"""The watermark admin Lambda, invoked with operator events, against the state table on moto.

Every action goes through the handler; the audit trail (who, when, why, old and new values) is
read back through the handler's own `get`."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aurora_batch.adapters.state_store import StateStore
from aurora_batch.errors import ConfigError, LeaseActiveError

from tests.support.lambda_fakes import FakeLambdaContext, load_event, load_handler

ALICE = "arn:aws:iam::123456789012:user/alice"
FUNCTION = "aurora-batch-watermark-admin"


def state_store(stack: Any, clock: Any = time.time) -> StateStore:
    client = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    return StateStore(stack.state_table, client, clock)


@pytest.fixture
def admin_env(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin Lambda's environment: the state table, no staging bucket, Vault or Snowflake."""
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "SNOWFLAKE_STAGE", "SNOWFLAKE_ENDPOINT", "STAGING_BUCKET"):
        monkeypatch.delenv(name)


@pytest.fixture
def table(admin_env: None) -> str:
    return f"a{secrets.token_hex(4)}.orders"


@pytest.fixture
def handler() -> Any:
    return load_handler("watermark_admin")


def event(name: str, table: str, **changes: Any) -> dict[str, Any]:
    loaded = {**load_event(name), "table": table, **changes}
    return {key: value for key, value in loaded.items() if value is not None}


def invoke(handler: Any, request: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(request, context or FakeLambdaContext(function_name=FUNCTION))
    return result


def get(handler: Any, table: str) -> dict[str, Any]:
    return invoke(handler, event("admin_get.json", table))


def test_every_action_is_audited_with_who_when_why_and_the_old_and_new_values(
    stack: Any, handler: Any, table: str
) -> None:
    started = datetime.now(UTC)
    assert get(handler, table)["state"]["version"] == 0

    # set: the column and its type given, since the table has never run.
    changed = invoke(handler, event("admin_set.json", table))
    assert changed["changed"] is True
    assert changed["new"]["watermark"] == "2024-03-01T00:00:00+00:00"
    assert changed["new"]["watermark_type"] == "timestamptz"
    assert changed["old"] == {"watermark": None, "watermark_type": None, "watermark_column": None}
    listed = invoke(handler, load_event("admin_list.json"))
    assert table in {state["table"] for state in listed["tables"]}

    # set, dry run: reported, not written, not audited.
    dry = invoke(handler, event("admin_set.json", table, value="2024-04-01T00:00:00+00:00", dry_run=True))
    assert dry["dry_run"] is True
    assert dry["new"] == {"watermark": "2024-04-01T00:00:00+00:00"}
    assert dry["audit_id"] is None
    assert get(handler, table)["state"]["watermark"] == "2024-03-01T00:00:00+00:00"

    # reset: the next run is a full reload.
    invoke(handler, event("admin_reset.json", table, actor="bob"))
    assert get(handler, table)["state"]["full_reload_requested"] is True
    assert get(handler, table)["state"]["watermark"] is None

    # unlock: a lease left by a run that died an hour ago.
    dead_run_clock = state_store(stack, clock=lambda: time.time() - 3600)
    dead_run_clock.acquire_lease(table, "20260101T000000Z-deadbeef", 900)
    unlocked = invoke(handler, event("admin_unlock.json", table))
    assert unlocked["old"]["lease_owner"] == "20260101T000000Z-deadbeef"
    assert unlocked["new"]["lease_owner"] is None

    finished = datetime.now(UTC)
    audit = get(handler, table)["audit"]
    assert [(record["action"], record["actor"]) for record in audit] == [
        ("unlock", ALICE),
        ("reset", "bob"),
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

    with pytest.raises(LeaseActiveError):
        invoke(handler, event("admin_unlock.json", table))
    assert get(handler, table)["state"]["lease_live"] is True

    forced = invoke(handler, event("admin_unlock.json", table, force=True))
    assert forced["old"]["lease_owner"] == lease.owner
    assert get(handler, table)["state"]["lease_live"] is False
    assert get(handler, table)["audit"][0]["action"] == "unlock"


@pytest.mark.parametrize("name", ["admin_set.json", "admin_reset.json", "admin_unlock.json"])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_mutating_action_without_a_reason_is_refused(handler: Any, table: str, name: str, reason: str | None) -> None:
    request = _without(event(name, table), "reason")
    if reason is not None:
        request["reason"] = reason

    with pytest.raises(ConfigError) as raised:
        invoke(handler, request)

    assert raised.value.fields["field"] == "reason"
    state = get(handler, table)
    assert state["state"]["version"] == 0
    assert state["audit"] == []


def _without(request: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in request.items() if name != key}


def test_a_watermark_in_the_future_is_refused_unless_forced(handler: Any, table: str) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    with pytest.raises(ConfigError) as raised:
        invoke(handler, event("admin_set.json", table, value=tomorrow))
    assert raised.value.fields["field"] == "value"
    assert get(handler, table)["state"]["watermark"] is None

    forced = invoke(handler, event("admin_set.json", table, value=tomorrow, force=True))
    assert forced["changed"] is True
    assert get(handler, table)["audit"][0]["new"]["watermark"] == forced["new"]["watermark"]


def test_a_value_that_does_not_fit_the_column_type_is_refused(handler: Any, table: str) -> None:
    invoke(handler, event("admin_set.json", table))

    with pytest.raises(ConfigError):
        invoke(handler, event("admin_set.json", table, value="not a timestamp", type=None, column=None))
    with pytest.raises(ConfigError) as raised:
        invoke(handler, event("admin_set.json", table, type="integer", column=None))
    assert raised.value.fields["field"] == "type"
    assert get(handler, table)["state"]["watermark"] == "2024-03-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("context", "actor"),
    [
        (
            FakeLambdaContext(function_name=FUNCTION, client_context=SimpleNamespace(custom={"actor": "carol"})),
            "carol",
        ),
        (
            FakeLambdaContext(function_name=FUNCTION, identity=SimpleNamespace(cognito_identity_id="us-east-1:42")),
            "cognito:us-east-1:42",
        ),
        (
            FakeLambdaContext(function_name=FUNCTION),
            f"unidentified caller of arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}",
        ),
    ],
)
def test_without_an_actor_in_the_event_the_caller_comes_from_the_context(
    handler: Any, table: str, context: Any, actor: str
) -> None:
    no_actor = _without(event("admin_set.json", table), "actor")
    blank_actor = {**_without(event("admin_reset.json", table), "actor"), "actor": "  "}

    for request in (no_actor, blank_actor):
        result = invoke(handler, request, context)

        assert result["actor"] == actor
        newest = get(handler, table)["audit"][0]
        assert (newest["action"], newest["actor"]) == (request["action"], actor)
