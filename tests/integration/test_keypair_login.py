"""Key-pair login against the local stack: the public key is registered with ALTER USER through
the connector, the private key (PEM, encrypted or not) sits in a Vault secret, and a real
replication logs in with it. The emulator verifies the JWT as Snowflake does, so a key that is
not registered fails the run, and no error ever carries key material."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from aurora_batch.config import TableOptions
from aurora_batch.errors import TargetAuthenticationError

from tests.support.keys import KeyPair, new_key_pair
from tests.support.runs import make_runtime, replicate, stack_session_factory
from tests.support.vault_secrets import TestSecrets

ROWS = 50


class KeyPairUser:
    """A Snowflake user of its own (the emulator accepts any name) and Vault secrets for it."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.name = f"AB_KEYPAIR_{secrets.token_hex(4).upper()}"
        self.secrets = TestSecrets(stack)

    def register(self, pair: KeyPair, slot: str = "RSA_PUBLIC_KEY") -> None:
        self._alter(f"SET {slot} = '{pair.public_key_body}'")

    def unregister(self, slot: str = "RSA_PUBLIC_KEY") -> None:
        self._alter(f"UNSET {slot}")

    def _alter(self, change: str) -> None:
        connection = self.stack.snowflake_connect()  # the administrator's (password) session
        try:
            connection.cursor().execute(f"ALTER USER {self.name} {change}")
        finally:
            connection.close()

    def secret_path(self, pair: KeyPair, passphrase: str | None = None) -> str:
        """Write a Snowflake credentials secret that logs in as this user with the pair's private key."""
        secret = {k: v for k, v in self.stack.snowflake_credentials.items() if k != "password"}
        secret.update(user=self.name, private_key=pair.private_pem)
        if passphrase is not None:
            secret["private_key_passphrase"] = passphrase
        return self.secrets.write("snowflake-keypair", secret)


@pytest.fixture
def user(stack: Any) -> Iterator[KeyPairUser]:
    created = KeyPairUser(stack)
    try:
        yield created
    finally:
        created.secrets.delete_all()


@pytest.fixture
def orders(stack: Any, stack_env: dict[str, str], pg_schema: str, sf_schema: str) -> TableOptions:
    with stack.pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{pg_schema}".orders (id bigint PRIMARY KEY, note text)')
        cursor.execute(f"INSERT INTO \"{pg_schema}\".orders SELECT g, 'n' || g FROM generate_series(1, {ROWS}) g")
        connection.commit()
    return TableOptions(schema_name=pg_schema, table_name="orders", target_schema=sf_schema)


def target_count(stack: Any, options: TableOptions) -> int:
    connection = stack.snowflake_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f'SELECT COUNT(*) FROM "{stack.snowflake_database}"."{options.target_schema}"."ORDERS"')
        return int(cursor.fetchone()[0])
    finally:
        connection.close()


def assert_no_key_material(report: dict[str, Any], pair: KeyPair, *secret_texts: str) -> None:
    text = json.dumps(report, default=str)
    pem_lines = [line for line in pair.private_pem.splitlines() if line and not line.startswith("-----")]
    for line in pem_lines:
        assert line not in text
    for secret_text in secret_texts:
        assert secret_text not in text


@pytest.mark.parametrize("passphrase", [None, "correct horse battery staple"], ids=["unencrypted", "encrypted"])
def test_a_replication_logs_in_with_a_registered_key_pair(
    stack: Any, user: KeyPairUser, orders: TableOptions, passphrase: str | None
) -> None:
    pair = new_key_pair(passphrase)
    assert ("ENCRYPTED" in pair.private_pem) == (passphrase is not None)
    user.register(pair)

    report = replicate(orders, make_runtime(VAULT_SECRET_PATH_SNOWFLAKE=user.secret_path(pair, passphrase)))

    assert report["status"] == "succeeded", report["error"]
    assert report["rows_loaded"] == ROWS
    assert target_count(stack, orders) == ROWS


def test_a_key_that_is_not_registered_fails_the_run_without_leaking_it(
    stack: Any, user: KeyPairUser, orders: TableOptions
) -> None:
    registered, presented = new_key_pair(), new_key_pair("s3cret-passphrase")
    user.register(registered)

    report = replicate(
        orders, make_runtime(VAULT_SECRET_PATH_SNOWFLAKE=user.secret_path(presented, "s3cret-passphrase"))
    )

    assert report["status"] == "failed"
    error = report["error"]
    assert error["error"] == TargetAuthenticationError.__name__
    assert error["retryable"] is False
    assert "JWT token is invalid" in error["message"]
    assert error["user"] == user.name
    assert_no_key_material(report, presented, "s3cret-passphrase")
    assert_no_key_material(report, registered)


def test_a_wrong_passphrase_fails_naming_the_key_not_its_value(user: KeyPairUser, orders: TableOptions) -> None:
    pair = new_key_pair("the-right-passphrase")
    user.register(pair)

    report = replicate(orders, make_runtime(VAULT_SECRET_PATH_SNOWFLAKE=user.secret_path(pair, "a-wrong-passphrase")))

    assert report["status"] == "failed"
    error = report["error"]
    assert error["error"] == "PermanentError"
    assert error["key"] == "private_key"
    assert error["retryable"] is False
    assert "passphrase" in error["message"]
    assert_no_key_material(report, pair, "a-wrong-passphrase", "the-right-passphrase")


def test_a_key_in_the_second_slot_logs_in_until_it_is_unset(stack: Any, user: KeyPairUser) -> None:
    old, new = new_key_pair(), new_key_pair()
    user.register(old, "RSA_PUBLIC_KEY")
    user.register(new, "RSA_PUBLIC_KEY_2")

    def login(pair: KeyPair) -> None:
        connect = stack_session_factory(
            stack,
            user=user.name.lower(),  # login names are case-insensitive
            password=None,
            private_key=pair.private_pem,
        )
        session = connect("aurora-batch:keypair-test")
        try:
            assert session.execute("SELECT 1") == [(1,)]
        finally:
            session.close()

    login(old)
    login(new)
    user.unregister("RSA_PUBLIC_KEY_2")
    login(old)
    with pytest.raises(TargetAuthenticationError, match="JWT token is invalid"):
        login(new)
