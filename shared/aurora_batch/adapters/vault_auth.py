"""Vault login methods: a token, or AWS IAM login (a SigV4-signed sts:GetCallerIdentity that the
Vault server forwards to STS). The payload holds the session's signature, never its secret key."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from aurora_batch.errors import ConfigError, VaultLoginError
from aurora_batch.secrets import Secret

DEFAULT_AWS_AUTH_MOUNT: Final = "aws"
# The aws auth method's own defaults: the global STS endpoint, signed for us-east-1. The Lambda
# only signs the request; the Vault server is the one that sends it to STS.
DEFAULT_STS_URL: Final = "https://sts.amazonaws.com/"
DEFAULT_STS_REGION: Final = "us-east-1"
GET_CALLER_IDENTITY_BODY: Final = "Action=GetCallerIdentity&Version=2011-06-15"
IAM_SERVER_ID_HEADER: Final = "X-Vault-AWS-IAM-Server-ID"
_REGIONAL_STS_HOST: Final = re.compile(r"sts(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?")


@dataclass(frozen=True)
class TokenAuth:
    """A Vault token given to the function (`VAULT_TOKEN`)."""

    token: Secret


class LoginMethod(Protocol):
    """An auth method that logs in by posting `login_payload()` to `auth/<mount>/login`."""

    @property
    def mount(self) -> str: ...

    @property
    def role(self) -> str: ...

    def login_payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AwsIamAuth:
    """AWS IAM login (`VAULT_ROLE`): a signed `sts:GetCallerIdentity` request made with the
    function's own AWS credentials, so no Vault token ships with the function.

    `sts_url` must be the STS endpoint the Vault server's aws auth method expects (its
    `auth/<mount>/config/client` `sts_endpoint`, or the global endpoint by default);
    `sts_region`, when None, is the region that URL names (see `sts_region_of`). `session`
    is the boto3 session whose credentials sign the request; by default, the default chain.
    """

    role: str
    mount: str = DEFAULT_AWS_AUTH_MOUNT
    sts_url: str = DEFAULT_STS_URL
    sts_region: str | None = None
    server_id_header: str | None = None
    session: boto3.Session | None = field(default=None, repr=False, compare=False)

    def login_payload(self) -> dict[str, Any]:
        return signed_iam_login_payload(
            self._credentials(),
            role=self.role,
            sts_url=self.sts_url,
            sts_region=self.sts_region,
            server_id_header=self.server_id_header,
        )

    def _credentials(self) -> Credentials:
        session = self.session if self.session is not None else boto3.Session()
        try:
            resolved = session.get_credentials()
            frozen = None if resolved is None else resolved.get_frozen_credentials()
        except BotoCoreError as exc:
            raise VaultLoginError(
                "AWS credentials for the Vault IAM login could not be loaded",
                role=self.role,
                mount=self.mount,
                reason=type(exc).__name__,
            ) from exc
        if frozen is None:
            raise VaultLoginError("no AWS credentials found for the Vault IAM login", role=self.role, mount=self.mount)
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def signed_iam_login_payload(
    credentials: Credentials,
    *,
    role: str,
    sts_url: str = DEFAULT_STS_URL,
    sts_region: str | None = None,
    server_id_header: str | None = None,
) -> dict[str, Any]:
    """The body of a Vault aws-auth IAM login: a SigV4-signed `sts:GetCallerIdentity` request,
    base64-encoded field by field as Vault's own CLI sends it. The payload holds the session
    token (inside the signed headers): never log it."""
    host = urlsplit(sts_url).netloc
    if not host:
        raise ConfigError("the STS URL must be an absolute URL", field="sts_url", value=sts_url)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": host}
    if server_id_header:
        headers[IAM_SERVER_ID_HEADER] = server_id_header
    request = AWSRequest(method="POST", url=sts_url, data=GET_CALLER_IDENTITY_BODY, headers=headers)
    SigV4Auth(credentials, "sts", sts_region or sts_region_of(sts_url)).add_auth(request)
    signed_headers = {name: [value] for name, value in request.headers.items()}
    return {
        "role": role,
        "iam_http_request_method": "POST",
        "iam_request_url": _b64(sts_url),
        "iam_request_body": _b64(GET_CALLER_IDENTITY_BODY),
        "iam_request_headers": _b64(json.dumps(signed_headers)),
    }


def sts_region_of(sts_url: str) -> str:
    """The region a request to `sts_url` is signed for. A regional endpoint
    (`sts.<region>.amazonaws.com`) names it; the global endpoint and any other host (a proxy,
    moto) take us-east-1. Signing for another region than the endpoint's fails at STS."""
    host = urlsplit(sts_url).hostname or ""
    match = _REGIONAL_STS_HOST.fullmatch(host)
    return match.group(1) if match else DEFAULT_STS_REGION


def vault_auth(
    *,
    token: Secret | None,
    role: str | None,
    aws_mount: str = DEFAULT_AWS_AUTH_MOUNT,
    sts_url: str = DEFAULT_STS_URL,
    sts_region: str | None = None,
    server_id_header: str | None = None,
    session: boto3.Session | None = None,
) -> TokenAuth | AwsIamAuth:
    """Pick the auth method from the settings: `VAULT_ROLE` means IAM login, `VAULT_TOKEN` a
    token. Exactly one must be set, so that a forgotten token never silently wins over IAM."""
    if token is not None and role:
        raise ConfigError("set only one of VAULT_ROLE and VAULT_TOKEN", field="VAULT_ROLE|VAULT_TOKEN")
    if role:
        return AwsIamAuth(
            role=role,
            mount=aws_mount,
            sts_url=sts_url,
            sts_region=sts_region,
            server_id_header=server_id_header,
            session=session,
        )
    if token is not None and token.reveal():
        return TokenAuth(token)
    raise ConfigError("set VAULT_ROLE (IAM login) or VAULT_TOKEN", field="VAULT_ROLE|VAULT_TOKEN")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")
