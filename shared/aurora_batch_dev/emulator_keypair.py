"""Key-pair login in the Snowflake emulator, checked the way real Snowflake checks it.

Real Snowflake: a user holds up to two RSA public keys (``RSA_PUBLIC_KEY`` and ``RSA_PUBLIC_KEY_2``,
so a key can be rotated without downtime), set with ``ALTER USER``. A client logging in with
``AUTHENTICATOR = SNOWFLAKE_JWT`` sends a JWT signed (RS256) by the private key, with
``iss = <ACCOUNT>.<USER>.SHA256:<fingerprint of the public key>``, ``sub = <ACCOUNT>.<USER>``, ``iat``
and ``exp`` (at most an hour after ``iat``). Snowflake finds the registered key whose fingerprint
``iss`` names, verifies the signature and the times, and otherwise refuses the login with code
390144 "JWT token is invalid." and no detail. The emulator does the same; the reason goes to its
log only. fakesnow itself accepts any login, and password logins are still not checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from aurora_batch_dev.errors import EmulatorLoginError, EmulatorStatementError

KEYPAIR_AUTHENTICATOR = "SNOWFLAKE_JWT"  # data.AUTHENTICATOR of a key-pair login request
KEY_SLOTS = ("RSA_PUBLIC_KEY", "RSA_PUBLIC_KEY_2")
JWT_TOKEN_INVALID = 390144
LOGIN_REFUSED_MESSAGE = "JWT token is invalid."
MAX_TOKEN_LIFETIME_SECONDS = 3600  # Snowflake refuses a JWT whose exp is more than an hour after iat
CLOCK_SKEW_SECONDS = 60


def public_key_fingerprint(der: bytes) -> str:
    """``SHA256:`` + base64 of the SHA-256 of the DER public key (DESC USER's RSA_PUBLIC_KEY_FP)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def parse_rsa_public_key(text: str) -> bytes:
    """The DER (SubjectPublicKeyInfo) of the base64 key body ``ALTER USER`` takes (PEM without the
    BEGIN/END lines; line breaks are ignored)."""
    body = "".join(text.split())
    try:
        key = load_der_public_key(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
        raise EmulatorStatementError(
            "emulator: the RSA public key is not the base64 body of a DER public key",
            errno=2,
            sqlstate="22023",
        ) from exc
    if not isinstance(key, RSAPublicKey):
        raise EmulatorStatementError("emulator: the public key is not an RSA key", errno=2, sqlstate="22023")
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


class UserPublicKeys:
    """The public keys registered per user, shared by every session. Login names are
    case-insensitive in Snowflake, so users are keyed upper-cased."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, bytes]] = {}

    def set(self, user: str, slot: str, der: bytes) -> None:
        with self._lock:
            self._keys.setdefault(user.upper(), {})[slot] = der

    def unset(self, user: str, slot: str) -> None:
        with self._lock:
            self._keys.get(user.upper(), {}).pop(slot, None)

    def registered(self, user: str) -> list[bytes]:
        with self._lock:
            return list(self._keys.get(user.upper(), {}).values())


def _rsa_public_key(der: bytes) -> RSAPublicKey:
    key = load_der_public_key(der)
    if not isinstance(key, RSAPublicKey):  # parse_rsa_public_key registers RSA keys only
        raise TypeError("not an RSA public key")
    return key


def _reject(reason: str) -> EmulatorLoginError:
    return EmulatorLoginError(LOGIN_REFUSED_MESSAGE, errno=JWT_TOKEN_INVALID, reason=reason)


def verify_keypair_jwt(token: str, *, account: str, user: str, keys: UserPublicKeys) -> None:
    """Accept the login's JWT or raise EmulatorLoginError (errno 390144) with the reason."""
    subject = f"{account.partition('.')[0].upper()}.{user.upper()}"
    registered = keys.registered(user)
    if not registered:
        raise _reject(f"no public key is registered for user {user.upper()}")
    try:
        unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise _reject("the token is not a JWT") from exc
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer.startswith(subject + "."):
        raise _reject(f"iss does not start with {subject}.")
    fingerprint = issuer[len(subject) + 1 :]
    public_der = next((der for der in registered if public_key_fingerprint(der) == fingerprint), None)
    if public_der is None:
        raise _reject(f"iss names key {fingerprint}, which is not registered for user {user.upper()}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=_rsa_public_key(public_der),
            algorithms=["RS256"],
            issuer=issuer,
            subject=subject,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "sub", "iat", "exp"]},
        )
    except jwt.InvalidTokenError as exc:
        raise _reject(f"{type(exc).__name__}: {exc}") from exc
    if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME_SECONDS:
        raise _reject(f"exp is more than {MAX_TOKEN_LIFETIME_SECONDS} seconds after iat")
