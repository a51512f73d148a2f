"""Typed secrets read from Vault, and the `Secret` wrapper that never prints its value.

No third-party imports: the Aurora and Snowflake adapters take these types without pulling in
hvac. Shape errors name the Vault path and the key, and the expected and received *types*,
never a value: a mistyped value may well be the secret itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, final

from aurora_batch.errors import VaultSecretShapeError

MASK: Final = "**********"
PEM_CERTIFICATE_MARKER: Final = "-----BEGIN CERTIFICATE-----"
# libpq's sslmode values (https://www.postgresql.org/docs/15/libpq-ssl.html).
PG_SSLMODES: Final = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


@final
class Secret:
    """A secret string. `repr`, `str` and f-strings show a mask; only `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """The value itself. Call this only where the value is handed to a driver."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True)
class AuroraConnectionSecret:
    """The Aurora connection secret (seed path `secret/aurora/connection`)."""

    host: str
    port: int
    database: str
    user: str
    password: Secret
    sslmode: str | None = None
    # PEM CA certificates that sign the server's certificate (for sslmode verify-ca/verify-full),
    # e.g. the RDS global bundle. Public, but it travels with the connection it secures.
    sslrootcert: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: str) -> AuroraConnectionSecret:
        """Validate the key/value data read from `path`. Unknown keys are ignored (rotation
        tooling often adds its own, such as `engine` or `dbClusterIdentifier`)."""
        sslmode = _optional_str(data, "sslmode", path)
        if sslmode is not None and sslmode not in PG_SSLMODES:
            raise VaultSecretShapeError(
                "secret key has a value that is not a libpq sslmode",
                path=path,
                key="sslmode",
                expected=", ".join(sorted(PG_SSLMODES)),
            )
        sslrootcert = _optional_str(data, "sslrootcert", path)
        if sslrootcert is not None and PEM_CERTIFICATE_MARKER not in sslrootcert:
            raise VaultSecretShapeError(
                "secret key is not PEM certificates", path=path, key="sslrootcert", expected=PEM_CERTIFICATE_MARKER
            )
        return cls(
            host=_required_str(data, "host", path),
            port=_port(data, "port", path),
            database=_required_str(data, "database", path),
            user=_required_str(data, "user", path),
            password=Secret(_required_str(data, "password", path)),
            sslmode=sslmode,
            sslrootcert=sslrootcert,
        )


@dataclass(frozen=True)
class SnowflakeCredentialsSecret:
    """The Snowflake credentials secret (seed path `secret/snowflake/credentials`).

    Exactly one of `password` or `private_key` (PEM, for key-pair authentication) is set;
    `private_key_passphrase` only with `private_key`. `host` overrides the account's host name
    (the PrivateLink host)."""

    account: str
    user: str
    warehouse: str
    database: str
    schema: str
    role: str
    password: Secret | None = None
    private_key: Secret | None = None
    private_key_passphrase: Secret | None = None
    host: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: str) -> SnowflakeCredentialsSecret:
        """Validate the key/value data read from `path`. Unknown keys are ignored."""
        password = _optional_str(data, "password", path)
        private_key = _optional_str(data, "private_key", path)
        passphrase = _optional_str(data, "private_key_passphrase", path)
        if password is None and private_key is None:
            raise VaultSecretShapeError(
                "secret has neither key: set one of them", path=path, key="password|private_key"
            )
        if password is not None and private_key is not None:
            raise VaultSecretShapeError(
                "secret has both keys, which is ambiguous: keep only one of them",
                path=path,
                key="password|private_key",
            )
        if passphrase is not None and private_key is None:
            raise VaultSecretShapeError(
                "secret key is set without private_key", path=path, key="private_key_passphrase"
            )
        if private_key is not None and not _looks_like_pem_private_key(private_key):
            raise VaultSecretShapeError(
                "secret key is not a PEM private key", path=path, key="private_key", expected="PEM"
            )
        return cls(
            account=_required_str(data, "account", path),
            user=_required_str(data, "user", path),
            warehouse=_required_str(data, "warehouse", path),
            database=_required_str(data, "database", path),
            schema=_required_str(data, "schema", path),
            role=_required_str(data, "role", path),
            password=None if password is None else Secret(password),
            private_key=None if private_key is None else Secret(private_key),
            private_key_passphrase=None if passphrase is None else Secret(passphrase),
            host=_optional_str(data, "host", path),
        )


def _looks_like_pem_private_key(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("-----BEGIN ") and stripped.endswith("PRIVATE KEY-----")


def _required_str(data: Mapping[str, Any], key: str, path: str) -> str:
    value = _optional_str(data, key, path)
    if value is None:
        raise VaultSecretShapeError("secret key is missing", path=path, key=key)
    return value


def _optional_str(data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise VaultSecretShapeError(
            "secret key must be a string", path=path, key=key, expected="string", got=type(value).__name__
        )
    if not value.strip():
        raise VaultSecretShapeError("secret key is empty", path=path, key=key, expected="non-empty string")
    return value


def _port(data: Mapping[str, Any], key: str, path: str) -> int:
    """A TCP port: a JSON number, or a string of digits (`vault kv put k=5432` stores a string)."""
    value = data.get(key)
    if value is None:
        raise VaultSecretShapeError("secret key is missing", path=path, key=key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise VaultSecretShapeError(
            "secret key must be an integer", path=path, key=key, expected="integer", got=type(value).__name__
        )
    if isinstance(value, str):
        if not value.strip().isascii() or not value.strip().isdigit():
            raise VaultSecretShapeError(
                "secret key must be an integer", path=path, key=key, expected="integer", got="str"
            )
        value = int(value.strip())
    if not 1 <= value <= 65535:
        raise VaultSecretShapeError("secret key is out of range", path=path, key=key, expected="integer in 1..65535")
    return value
