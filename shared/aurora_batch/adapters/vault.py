"""Vault (or OpenBao) adapter on hvac: token or AWS IAM login, KV v1/v2 reads, caching, clear errors.

A secret path is written `<mount>/<path>` (`secret/aurora/connection`), whatever the mount's KV
version: the version is looked up once per path through `sys/internal/ui/mounts/<path>`, which
any token that may read the path can call (no sudo), and can be pinned per mount instead.

Secrets are cached for `cache_ttl_seconds` in the client, so a client kept at module level
serves a warm Lambda container without a Vault round trip. Tokens are renewed when less than
`token_renew_threshold_seconds` of their TTL is left; with IAM login the client logs in again
when renewal fails, the token is not renewable, or Vault denies a read with a token that may
have been revoked.

Errors name the Vault address, the path and the key, never a value. hvac and requests errors
are not chained (see `VaultClient._call`): they hold response bodies and request headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import hvac
import hvac.exceptions
import requests

from aurora_batch.adapters.vault_auth import (
    DEFAULT_AWS_AUTH_MOUNT,
    DEFAULT_STS_REGION,
    DEFAULT_STS_URL,
    GET_CALLER_IDENTITY_BODY,
    IAM_SERVER_ID_HEADER,
    AwsIamAuth,
    LoginMethod,
    TokenAuth,
    signed_iam_login_payload,
    sts_region_of,
    vault_auth,
)
from aurora_batch.errors import (
    AuroraBatchError,
    ConfigError,
    VaultError,
    VaultLoginError,
    VaultPermissionError,
    VaultRequestError,
    VaultSealedError,
    VaultSecretNotFoundError,
    VaultSecretShapeError,
)
from aurora_batch.secrets import AuroraConnectionSecret, SnowflakeCredentialsSecret

LOG = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_AWS_AUTH_MOUNT",
    "DEFAULT_STS_REGION",
    "DEFAULT_STS_URL",
    "GET_CALLER_IDENTITY_BODY",
    "IAM_SERVER_ID_HEADER",
    "AwsIamAuth",
    "LoginMethod",
    "TokenAuth",
    "VaultClient",
    "signed_iam_login_payload",
    "sts_region_of",
    "vault_auth",
]

DEFAULT_CACHE_TTL_SECONDS: Final = 300.0
DEFAULT_TOKEN_RENEW_THRESHOLD_SECONDS: Final = 600.0
DEFAULT_TIMEOUT_SECONDS: Final = 10.0

# hvac raises one class per HTTP status and keeps no status code.
_HVAC_STATUS: Final[Mapping[type[Exception], int]] = {
    hvac.exceptions.InvalidRequest: 400,
    hvac.exceptions.Unauthorized: 401,
    hvac.exceptions.Forbidden: 403,
    hvac.exceptions.InvalidPath: 404,
    hvac.exceptions.PreconditionFailed: 412,
    hvac.exceptions.RateLimitExceeded: 429,
    hvac.exceptions.InternalServerError: 500,
    hvac.exceptions.VaultNotInitialized: 501,
    hvac.exceptions.BadGateway: 502,
    hvac.exceptions.VaultDown: 503,
}
_ERROR_TEXT_LIMIT: Final = 300

_T = TypeVar("_T")


@dataclass(frozen=True)
class _KvLocation:
    mount: str
    relative_path: str
    version: int

    @property
    def api_path(self) -> str:
        if self.version == 2:
            return f"/v1/{self.mount}/data/{self.relative_path}"
        return f"/v1/{self.mount}/{self.relative_path}"


@dataclass(frozen=True)
class _CachedSecret:
    data: Mapping[str, Any]
    fetched_at: float


class VaultClient:
    """Reads KV secrets from Vault. Keep one per warm container: it caches secrets and the token.

    `client` is an `hvac.Client` (built for `addr` when omitted); `clock` is a monotonic clock in
    seconds, injectable so tests move time instead of sleeping.
    """

    def __init__(
        self,
        addr: str,
        *,
        auth: TokenAuth | LoginMethod,
        client: hvac.Client | None = None,
        cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
        token_renew_threshold_seconds: float = DEFAULT_TOKEN_RENEW_THRESHOLD_SECONDS,
        kv_versions: Mapping[str, int] | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_ttl_seconds < 0:
            raise ConfigError("the secret cache TTL must not be negative", field="cache_ttl_seconds")
        for mount, version in (kv_versions or {}).items():
            if version not in (1, 2):
                raise ConfigError("a KV version is 1 or 2", field="kv_versions", mount=mount, value=version)
        self._addr = addr
        self._auth = auth
        # token="" keeps hvac from picking up VAULT_TOKEN or ~/.vault-token by itself.
        self._client = (
            client if client is not None else hvac.Client(url=addr, token="", timeout=timeout_seconds, verify=verify)
        )
        self._cache_ttl = cache_ttl_seconds
        self._renew_threshold = token_renew_threshold_seconds
        self._kv_versions = dict(kv_versions or {})
        self._clock = clock
        self._cache: dict[str, _CachedSecret] = {}
        self._locations: dict[str, _KvLocation] = {}
        self._has_token = False
        self._token_expires_at: float | None = None  # None: never expires, or the TTL is unknown
        self._token_renewable = False

    # --- reading ---------------------------------------------------------------------------

    def read_secret(self, path: str) -> dict[str, Any]:
        """The key/value data at `path` (`<mount>/<path>`), from the cache while it is fresh."""
        path = _normalize_path(path)
        now = self._clock()
        cached = self._cache.get(path)
        if cached is not None and now - cached.fetched_at < self._cache_ttl:
            LOG.debug("vault secret served from cache", extra={"vault_path": path})
            return dict(cached.data)
        data = self._read_fresh(path)
        self._cache[path] = _CachedSecret(data=data, fetched_at=now)
        LOG.debug("vault secret read", extra={"vault_path": path})
        return dict(data)

    def read_aurora_connection(self, path: str) -> AuroraConnectionSecret:
        return self._read_typed(path, AuroraConnectionSecret.from_mapping)

    def read_snowflake_credentials(self, path: str) -> SnowflakeCredentialsSecret:
        return self._read_typed(path, SnowflakeCredentialsSecret.from_mapping)

    def clear_cache(self, path: str | None = None) -> None:
        """Forget one cached secret (say, after the database rejected its password), or all."""
        if path is None:
            self._cache.clear()
        else:
            self._cache.pop(_normalize_path(path), None)

    def _read_typed(self, path: str, parse: Callable[..., _T]) -> _T:
        data = self.read_secret(path)
        try:
            return parse(data, path=_normalize_path(path))
        except VaultSecretShapeError:
            # Once the secret is fixed in Vault, the next attempt must see it, not the cache.
            self.clear_cache(path)
            raise

    def _read_fresh(self, path: str) -> dict[str, Any]:
        logged_in_now = self._ensure_token(path)
        try:
            return self._fetch(path)
        except VaultPermissionError:
            if isinstance(self._auth, TokenAuth) or logged_in_now:
                raise
        # With a login method, the token may have been revoked before its TTL ran out: log in
        # once more and retry once. A real policy denial fails again, and that error stands.
        self._login(path)
        return self._fetch(path)

    def _fetch(self, path: str) -> dict[str, Any]:
        location = self._locate(path)
        response = self._call(lambda: self._client.adapter.get(location.api_path), path=path)
        body = response.get("data") if isinstance(response, Mapping) else None
        if location.version == 2 and isinstance(body, Mapping):
            body = body.get("data")
        if body is None:
            raise VaultSecretNotFoundError("no secret at the path (deleted or destroyed)", path=path)
        if not isinstance(body, dict):
            raise VaultSecretShapeError("the secret is not a key/value map", path=path, got=type(body).__name__)
        return body

    def _locate(self, path: str) -> _KvLocation:
        location = self._locations.get(path)
        if location is not None:
            return location
        first, _, rest = path.partition("/")
        if first in self._kv_versions:
            location = _KvLocation(mount=first, relative_path=rest, version=self._kv_versions[first])
        else:
            response = self._call(lambda: self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{path}"), path=path)
            location = _location_from_mount_info(response, path)
        self._locations[path] = location
        return location

    # --- token -----------------------------------------------------------------------------

    def _ensure_token(self, path: str) -> bool:
        """Make sure the client holds a usable token. True when it logged in just now."""
        if not self._has_token:
            if isinstance(self._auth, TokenAuth):
                self._adopt_token(self._auth, path)
                return False
            self._login(path)
            return True
        now = self._clock()
        if self._token_expires_at is None or self._token_expires_at - now > self._renew_threshold:
            return False
        if self._token_renewable and now < self._token_expires_at and self._renew(path):
            return False
        if isinstance(self._auth, TokenAuth):
            # A given token cannot be replaced: warn once and go on; if it has expired, the read
            # fails as permission denied, which names the path.
            LOG.warning("the Vault token expires soon and cannot be renewed", extra={"vault_addr": self._addr})
            self._token_expires_at = None
            return False
        self._login(path)
        return True

    def _adopt_token(self, auth: TokenAuth, path: str) -> None:
        self._client.token = auth.token.reveal()
        try:
            # The answer holds the token itself (`id`): keep only the TTL and renewability.
            info = self._call(self._client.auth.token.lookup_self, path=path)["data"]
        except VaultPermissionError:
            # A token without the default policy may not look itself up; reads will tell.
            LOG.info("the Vault token may not look itself up; its TTL is unknown")
            info = {}
        self._remember_lease(int(info.get("ttl") or 0), bool(info.get("renewable")))
        self._has_token = True

    def _login(self, path: str) -> None:
        method = self._auth
        assert not isinstance(method, TokenAuth)
        payload = method.login_payload()
        # An expired token sent along would make Vault refuse the login itself.
        self._client.token = ""
        self._has_token = False
        response = self._call(
            lambda: self._client.adapter.post(f"/v1/auth/{method.mount}/login", json=payload),
            path=path,
            login=method,
        )
        auth = response.get("auth") if isinstance(response, Mapping) else None
        client_token = auth.get("client_token") if isinstance(auth, Mapping) else None
        if not isinstance(auth, Mapping) or not isinstance(client_token, str) or not client_token:
            raise VaultLoginError(
                "Vault answered the login without a token", path=path, role=method.role, mount=method.mount
            )
        self._client.token = client_token
        self._has_token = True
        self._remember_lease(int(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
        LOG.info(
            "logged in to Vault",
            extra={
                "vault_mount": method.mount,
                "vault_role": method.role,
                "token_ttl_seconds": auth.get("lease_duration"),
            },
        )

    def _renew(self, path: str) -> bool:
        try:
            auth = self._call(self._client.auth.token.renew_self, path=path)["auth"]
        except (VaultPermissionError, VaultRequestError) as exc:
            # Revoked, past its max TTL, or not renewable after all.
            LOG.info("the Vault token could not be renewed", extra={"error": exc.kind})
            self._token_renewable = False
            return False
        self._remember_lease(int(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
        LOG.info("renewed the Vault token", extra={"token_ttl_seconds": auth.get("lease_duration")})
        return True

    def _remember_lease(self, ttl_seconds: int, renewable: bool) -> None:
        self._token_expires_at = None if ttl_seconds <= 0 else self._clock() + ttl_seconds
        self._token_renewable = renewable

    # --- errors ----------------------------------------------------------------------------

    def _call(self, operation: Callable[[], _T], *, path: str | None = None, login: LoginMethod | None = None) -> _T:
        """Run one hvac call and turn its failure into one of our errors.

        The error is raised after the `except` blocks on purpose, so that neither `__cause__`
        nor `__context__` keeps the original: an hvac error holds the whole response body, and
        a requests error holds the request, whose headers carry the Vault token and whose body
        may be a signed IAM login carrying an AWS session token. Our error keeps what is safe:
        status, Vault's error messages (which never quote secret data), path and key.
        """
        failure: AuroraBatchError
        try:
            return operation()
        except requests.exceptions.RequestException as exc:
            failure = VaultError(
                "Vault is unreachable",
                addr=self._addr,
                path=path,
                reason=type(exc).__name__,
                detail=_clip(str(exc)),
            )
        except hvac.exceptions.VaultError as exc:
            failure = _translate(exc, addr=self._addr, path=path, login=login)
        raise failure


def _translate(
    exc: hvac.exceptions.VaultError, *, addr: str, path: str | None, login: LoginMethod | None
) -> AuroraBatchError:
    status = _HVAC_STATUS.get(type(exc))
    vault_errors = _clip("; ".join(" ".join(str(message).split()) for message in (exc.errors or [])))
    if isinstance(exc, hvac.exceptions.VaultDown) and "sealed" in vault_errors.lower():
        return VaultSealedError("Vault is sealed", addr=addr, path=path)
    if status is None or status == 429 or status >= 500:
        return VaultError(
            "Vault answered with a server error",
            addr=addr,
            path=path,
            status=status,
            vault_errors=vault_errors,
        )
    if login is not None:
        # Vault answers 403 alike for an unknown auth mount, an unknown role and an unbound principal.
        return VaultLoginError(
            "Vault rejected the login: check the auth mount, the role, and the principal bound to the role",
            addr=addr,
            path=path,
            mount=login.mount,
            role=login.role,
            status=status,
            vault_errors=vault_errors,
        )
    if status == 403 and "preflight capability check" in vault_errors:
        return VaultPermissionError(
            "Vault denied access to the path's mount: there is no such mount, or the token's policy "
            "grants nothing under it",
            addr=addr,
            path=path,
        )
    if status == 403:
        return VaultPermissionError(
            "Vault denied the request: the token's policy does not allow reading the path, "
            "or the token is invalid or expired",
            addr=addr,
            path=path,
        )
    if status == 404:
        return VaultSecretNotFoundError("no secret at the path", addr=addr, path=path)
    return VaultRequestError(
        "Vault rejected the request", addr=addr, path=path, status=status, vault_errors=vault_errors
    )


def _location_from_mount_info(response: Any, path: str) -> _KvLocation:
    info = response.get("data") if isinstance(response, Mapping) else None
    if not isinstance(info, Mapping):
        raise VaultRequestError("Vault did not describe the path's mount", path=path)
    mount = str(info.get("path") or path.partition("/")[0]).strip("/")
    engine = info.get("type")
    if engine not in ("kv", "generic"):
        raise VaultRequestError("the path is not on a KV secrets engine", path=path, mount=mount, engine=engine)
    relative_path = path[len(mount) :].strip("/") if path.startswith(mount + "/") else ""
    if not relative_path:
        raise ConfigError("the Vault secret path names only a mount", field="path", value=path)
    options = info.get("options")
    version = 2 if isinstance(options, Mapping) and str(options.get("version")) == "2" else 1
    return _KvLocation(mount=mount, relative_path=relative_path, version=version)


def _normalize_path(path: str) -> str:
    normalized = path.strip().strip("/")
    if "/" not in normalized:
        raise ConfigError("a Vault secret path is written <mount>/<path>", field="path", value=path)
    return normalized


def _clip(text: str) -> str:
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 3] + "..."
