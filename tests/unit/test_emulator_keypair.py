"""The emulator checks a key-pair login's JWT as Snowflake does: the token the real connector
builds passes; a token for another key, account or user, a forged signature, an expired or
over-long token, or an unsigned one is refused with 390144 and no detail for the client."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import pytest
from aurora_batch_dev.emulator_keypair import (
    JWT_TOKEN_INVALID,
    UserPublicKeys,
    parse_rsa_public_key,
    public_key_fingerprint,
    verify_keypair_jwt,
)
from aurora_batch_dev.errors import EmulatorLoginError, EmulatorStatementError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from snowflake.connector.auth import AuthByKeyPair

from tests.support.keys import KeyPair, new_key_pair

ACCOUNT = "aurora-batch-local"
USER = "svc_loader"
SUBJECT = "AURORA-BATCH-LOCAL.SVC_LOADER"


@pytest.fixture(scope="module")
def registered() -> KeyPair:
    return new_key_pair()


@pytest.fixture(scope="module")
def other() -> KeyPair:
    return new_key_pair()


@pytest.fixture
def keys(registered: KeyPair) -> UserPublicKeys:
    keys = UserPublicKeys()
    keys.set("SVC_LOADER", "RSA_PUBLIC_KEY", parse_rsa_public_key(registered.public_key_body))
    return keys


def connector_token(pair: KeyPair, *, account: str = ACCOUNT, user: str = USER) -> str:
    """The JWT the Snowflake connector itself sends for authenticator=SNOWFLAKE_JWT."""
    return AuthByKeyPair(private_key=pair.private_der).prepare(account=account, user=user)


def claims_for(pair: KeyPair, **overrides: Any) -> dict[str, Any]:
    """Valid claims for the pair's key; an override of None leaves the claim out."""
    now = int(time.time())
    claims = {
        "iss": f"{SUBJECT}.{public_key_fingerprint(pair.public_der)}",
        "sub": SUBJECT,
        "iat": now,
        "exp": now + 60,
        **overrides,
    }
    return {name: value for name, value in claims.items() if value is not None}


def signed_token(pair: KeyPair, **overrides: Any) -> str:
    return jwt.encode(claims_for(pair, **overrides), pair.private_key, algorithm="RS256")


def refused(token: str, keys: UserPublicKeys, *, account: str = ACCOUNT, user: str = USER) -> EmulatorLoginError:
    with pytest.raises(EmulatorLoginError) as caught:
        verify_keypair_jwt(token, account=account, user=user, keys=keys)
    error = caught.value
    assert error.message == "JWT token is invalid."
    assert error.fields["errno"] == JWT_TOKEN_INVALID
    assert token not in str(error)
    return error


def test_the_connectors_token_for_a_registered_key_is_accepted(registered: KeyPair, keys: UserPublicKeys) -> None:
    verify_keypair_jwt(connector_token(registered), account=ACCOUNT, user=USER, keys=keys)


def test_login_names_and_accounts_are_case_insensitive(registered: KeyPair, keys: UserPublicKeys) -> None:
    token = connector_token(registered, account="Aurora-Batch-Local", user="Svc_Loader")
    verify_keypair_jwt(token, account="Aurora-Batch-Local", user="Svc_Loader", keys=keys)


def test_the_second_key_slot_allows_rotation(registered: KeyPair, other: KeyPair, keys: UserPublicKeys) -> None:
    refused(connector_token(other), keys)

    keys.set("svc_loader", "RSA_PUBLIC_KEY_2", other.public_der)
    verify_keypair_jwt(connector_token(other), account=ACCOUNT, user=USER, keys=keys)

    keys.unset("SVC_LOADER", "RSA_PUBLIC_KEY")
    verify_keypair_jwt(connector_token(other), account=ACCOUNT, user=USER, keys=keys)
    assert "not registered" in refused(connector_token(registered), keys).fields["reason"]


def test_a_user_without_a_key_is_refused(registered: KeyPair, keys: UserPublicKeys) -> None:
    error = refused(connector_token(registered, user="someone_else"), keys, user="someone_else")
    assert "no public key" in error.fields["reason"]


def test_a_token_for_another_account_or_user_is_refused(registered: KeyPair, keys: UserPublicKeys) -> None:
    refused(connector_token(registered, account="elsewhere"), keys)
    refused(signed_token(registered, sub="AURORA-BATCH-LOCAL.SOMEONE_ELSE"), keys)


def test_a_signature_by_another_key_is_refused_even_naming_the_registered_fingerprint(
    registered: KeyPair, other: KeyPair, keys: UserPublicKeys
) -> None:
    forged = signed_token(other, iss=f"{SUBJECT}.{public_key_fingerprint(registered.public_der)}")
    assert "Signature" in refused(forged, keys).fields["reason"]


def test_an_expired_token_is_refused(registered: KeyPair, keys: UserPublicKeys) -> None:
    now = int(time.time())
    assert "expired" in refused(signed_token(registered, iat=now - 600, exp=now - 300), keys).fields["reason"]


def test_a_token_living_longer_than_an_hour_is_refused(registered: KeyPair, keys: UserPublicKeys) -> None:
    now = int(time.time())
    error = refused(signed_token(registered, iat=now, exp=now + 3601 + 60), keys)
    assert "after iat" in error.fields["reason"]


def test_a_token_without_iat_is_refused(registered: KeyPair, keys: UserPublicKeys) -> None:
    refused(signed_token(registered, iat=None), keys)


def test_an_unsigned_token_is_refused(registered: KeyPair, keys: UserPublicKeys) -> None:
    refused(jwt.encode(claims_for(registered), "", algorithm="none"), keys)
    refused("not-a-jwt", keys)


def test_alter_user_takes_the_pem_body_with_or_without_line_breaks(registered: KeyPair) -> None:
    body = registered.public_key_body
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    assert parse_rsa_public_key(body) == parse_rsa_public_key(wrapped) == registered.public_der


@pytest.mark.parametrize("text", ["not base64!", "QUJD", ""])
def test_alter_user_rejects_what_is_not_a_public_key(text: str) -> None:
    with pytest.raises(EmulatorStatementError):
        parse_rsa_public_key(text)


def test_alter_user_rejects_a_non_rsa_key() -> None:
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(EmulatorStatementError, match="not an RSA key"):
        parse_rsa_public_key(base64.b64encode(der).decode())


def test_the_fingerprint_is_the_one_the_connector_computes(registered: KeyPair) -> None:
    from_connector = AuthByKeyPair.calculate_public_key_fingerprint(registered.private_key)  # type: ignore[no-untyped-call]
    assert public_key_fingerprint(registered.public_der) == from_connector
