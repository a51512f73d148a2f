"""The Vault adapter against a real OpenBao dev server (and moto's STS for the IAM login).

Uses the local stack's OpenBao (the `stack` fixture). Every test writes under its own mount or
path prefix, so the stack's seeded secrets are never touched; the sealed case seals a private
server of its own, and the IAM cases use a private moto that checks SigV4 signatures.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sys
import traceback
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import hvac
import pytest
import requests
from aurora_batch.adapters.vault import AwsIamAuth, LoginMethod, TokenAuth, VaultClient
from aurora_batch.errors import (
    VaultError,
    VaultLoginError,
    VaultPermissionError,
    VaultSealedError,
    VaultSecretNotFoundError,
    VaultSecretShapeError,
)
from aurora_batch.secrets import Secret
from aurora_batch_dev import LocalStack
from aurora_batch_dev.processes import (
    LOOPBACK,
    ChildProcess,
    PortService,
    free_port,
    stop_all,
    tcp_accepts,
)
from aurora_batch_dev.services import MINIMAL_ENV, VaultServer

SERVER_START_SECONDS = 60.0
SERVER_STOP_SECONDS = 10.0
REPLICATION_POLICY = Path(__file__).resolve().parents[2] / "docs" / "vault-policies" / "replication.hcl"
PASSWORD = f"pw-{uuid.uuid4().hex}"
SNOWFLAKE_PASSWORD = f"sf-{uuid.uuid4().hex}"
STS_NAMESPACE = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


@dataclass(frozen=True)
class VaultEndpoint:
    addr: str
    root_token: str


class FakeClock:
    """A monotonic clock the test moves by hand, so TTLs pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class AppRoleLogin:
    """A second login method, to run the client's login, renew and re-login path against
    OpenBao itself (OpenBao has no aws auth method; see test_iam_login_through_openbao)."""

    mount: str
    role: str
    secret_id: str

    def login_payload(self) -> dict[str, Any]:
        return {"role_id": self.role, "secret_id": self.secret_id}


@contextlib.contextmanager
def private_openbao(log_dir: Path) -> Iterator[VaultEndpoint]:
    server = VaultServer(log_dir, root_token=f"root-{uuid.uuid4().hex}")
    server.service.spawn()
    try:
        server.service.wait_ready(SERVER_START_SECONDS)
        yield VaultEndpoint(server.address, server.root_token)
    finally:
        stop_all([server.service.child] if server.service.child else [], SERVER_STOP_SECONDS)


@pytest.fixture(scope="module")
def vault(stack: LocalStack) -> VaultEndpoint:
    return VaultEndpoint(stack.vault_addr, stack.vault_token)


@pytest.fixture(scope="module")
def root(vault: VaultEndpoint) -> hvac.Client:
    return hvac.Client(url=vault.addr, token=vault.root_token)


@pytest.fixture
def prefix() -> str:
    """A path prefix on the dev server's kv-v2 `secret/` mount that no other test uses."""
    return f"secret/it-vault-{uuid.uuid4().hex[:10]}"


def put_v2(root: hvac.Client, path: str, data: dict[str, Any]) -> None:
    mount, _, relative = path.partition("/")
    root.secrets.kv.v2.create_or_update_secret(path=relative, secret=data, mount_point=mount)


def token_with_policy(root: hvac.Client, policy: str, **token_options: Any) -> str:
    name = f"it-vault-{uuid.uuid4().hex[:10]}"
    root.sys.create_or_update_policy(name=name, policy=policy)
    token: str = root.auth.token.create(policies=[name], **token_options)["auth"]["client_token"]
    return token


def read_policy(*paths: str) -> str:
    return "\n".join(f'path "{path}" {{ capabilities = ["read"] }}' for path in paths)


def v2_data_path(path: str) -> str:
    mount, _, relative = path.partition("/")
    return f"{mount}/data/{relative}"


def aurora_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "host": "aurora.example.internal",
        "port": 5432,
        "database": "app",
        "user": "replicator",
        "password": PASSWORD,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def snowflake_data() -> dict[str, Any]:
    return {
        "account": "xy12345",
        "user": "LOADER",
        "password": SNOWFLAKE_PASSWORD,
        "warehouse": "LOAD_WH",
        "database": "RAW",
        "schema": "AURORA",
        "role": "LOADER_ROLE",
    }


def assert_leaks_nothing(exc: BaseException, *secret_values: str) -> None:
    """Neither the error nor anything chained to it shows a secret value, and no hvac or
    requests error (which hold response bodies and request headers) is chained at all."""
    assert exc.__cause__ is None
    assert exc.__context__ is None
    shown = ["".join(traceback.format_exception(exc)), repr(exc)]
    if hasattr(exc, "to_dict"):
        shown.append(json.dumps(exc.to_dict(), default=str))
    for value in (PASSWORD, SNOWFLAKE_PASSWORD, *secret_values):
        for text in shown:
            assert value not in text


# --- reading ----------------------------------------------------------------------------------


def test_token_auth_reads_kv_v2_secrets_raw_and_typed(vault: VaultEndpoint, root: hvac.Client, prefix: str) -> None:
    aurora_path, snowflake_path = f"{prefix}/aurora/connection", f"{prefix}/snowflake/credentials"
    put_v2(root, aurora_path, aurora_data(sslmode="require"))
    put_v2(root, snowflake_path, snowflake_data())
    token = token_with_policy(root, read_policy(v2_data_path(aurora_path), v2_data_path(snowflake_path)))
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(token)))

    assert client.read_secret(aurora_path) == aurora_data(sslmode="require")
    aurora = client.read_aurora_connection(aurora_path)
    snowflake = client.read_snowflake_credentials(snowflake_path)

    assert (aurora.host, aurora.port, aurora.user, aurora.sslmode) == (
        "aurora.example.internal",
        5432,
        "replicator",
        "require",
    )
    assert aurora.password.reveal() == PASSWORD
    assert snowflake.password is not None
    assert snowflake.password.reveal() == SNOWFLAKE_PASSWORD
    assert (snowflake.account, snowflake.warehouse, snowflake.role) == ("xy12345", "LOAD_WH", "LOADER_ROLE")


def test_reads_a_kv_v1_mount(vault: VaultEndpoint, root: hvac.Client) -> None:
    mount = f"kv1-{uuid.uuid4().hex[:10]}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret(path="aurora/connection", secret=aurora_data(), mount_point=mount)
    token = token_with_policy(root, read_policy(f"{mount}/aurora/connection"))

    client = VaultClient(vault.addr, auth=TokenAuth(Secret(token)))

    assert client.read_aurora_connection(f"{mount}/aurora/connection").password.reveal() == PASSWORD


def test_a_pinned_kv_version_replaces_detection(vault: VaultEndpoint, root: hvac.Client) -> None:
    mount = f"kv1-{uuid.uuid4().hex[:10]}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret(path="app/db", secret={"value": "v1"}, mount_point=mount)
    auth = TokenAuth(Secret(vault.root_token))

    assert VaultClient(vault.addr, auth=auth, kv_versions={mount: 1}).read_secret(f"{mount}/app/db") == {"value": "v1"}
    # Pinned wrongly, the client reads the v2 API path, which does not exist on a v1 mount.
    with pytest.raises(VaultSecretNotFoundError):
        VaultClient(vault.addr, auth=auth, kv_versions={mount: 2}).read_secret(f"{mount}/app/db")


def test_replication_policy_file_reads_both_secrets_and_nothing_else(vault: VaultEndpoint, root: hvac.Client) -> None:
    # The policy file names the `secret/` mount; moved onto a private kv-v2 mount it must behave
    # the same, without the test writing to the stack's real secrets.
    mount = f"kv2-{uuid.uuid4().hex[:10]}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    policy = REPLICATION_POLICY.read_text().replace('path "secret/', f'path "{mount}/')
    for path, data in {"aurora/connection": aurora_data(), "snowflake/credentials": snowflake_data()}.items():
        put_v2(root, f"{mount}/{path}", data)
    put_v2(root, f"{mount}/other/secret", {"value": "x"})
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(token_with_policy(root, policy))))

    assert client.read_aurora_connection(f"{mount}/aurora/connection").password.reveal() == PASSWORD
    assert client.read_snowflake_credentials(f"{mount}/snowflake/credentials").warehouse == "LOAD_WH"
    with pytest.raises(VaultPermissionError):
        client.read_secret(f"{mount}/other/secret")


# --- caching and tokens -------------------------------------------------------------------------


def test_secrets_are_served_from_the_cache_until_the_ttl_passes(
    vault: VaultEndpoint, root: hvac.Client, prefix: str
) -> None:
    path = f"{prefix}/cached"
    put_v2(root, path, {"value": "first"})
    clock = FakeClock()
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)), cache_ttl_seconds=300, clock=clock)

    assert client.read_secret(path) == {"value": "first"}
    put_v2(root, path, {"value": "second"})
    clock.advance(299)
    assert client.read_secret(path) == {"value": "first"}
    clock.advance(1)
    assert client.read_secret(path) == {"value": "second"}
    put_v2(root, path, {"value": "third"})
    client.clear_cache(path)
    assert client.read_secret(path) == {"value": "third"}


def test_a_cached_secret_cannot_be_changed_through_a_returned_copy(
    vault: VaultEndpoint, root: hvac.Client, prefix: str
) -> None:
    path = f"{prefix}/cached"
    put_v2(root, path, {"value": "first"})
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)), clock=FakeClock())

    client.read_secret(path)["value"] = "changed by the caller"

    assert client.read_secret(path) == {"value": "first"}


def test_a_secret_of_wrong_shape_is_read_again_once_fixed(vault: VaultEndpoint, root: hvac.Client, prefix: str) -> None:
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data(port="five"))
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)), clock=FakeClock())
    with pytest.raises(VaultSecretShapeError):
        client.read_aurora_connection(path)

    put_v2(root, path, aurora_data())

    assert client.read_aurora_connection(path).port == 5432


def test_token_is_renewed_when_its_ttl_falls_below_the_threshold(
    vault: VaultEndpoint, root: hvac.Client, prefix: str
) -> None:
    path = f"{prefix}/renewed"
    put_v2(root, path, {"value": "x"})
    token = token_with_policy(root, read_policy(v2_data_path(path)), ttl="1h", renewable=True)
    clock = FakeClock()
    client = VaultClient(
        vault.addr,
        auth=TokenAuth(Secret(token)),
        cache_ttl_seconds=0,
        token_renew_threshold_seconds=600,
        clock=clock,
    )

    def last_renewal() -> int:
        return int(root.auth.token.lookup(token)["data"].get("last_renewal_time") or 0)

    client.read_secret(path)
    clock.advance(2_900)  # about 700 s left: above the threshold
    client.read_secret(path)
    assert last_renewal() == 0
    clock.advance(200)  # about 500 s left: below it
    client.read_secret(path)
    assert last_renewal() > 0


@pytest.fixture
def approle(vault: VaultEndpoint, root: hvac.Client, prefix: str) -> tuple[AppRoleLogin, str]:
    """An AppRole whose tokens (1 h, renewable) may read one secret; returns the login and path."""
    path = f"{prefix}/approle"
    put_v2(root, path, {"value": "x"})
    mount = f"approle-{uuid.uuid4().hex[:10]}"
    root.sys.enable_auth_method("approle", path=mount)
    policy = f"it-vault-{uuid.uuid4().hex[:10]}"
    root.sys.create_or_update_policy(name=policy, policy=read_policy(v2_data_path(path)))
    root.write(f"auth/{mount}/role/replication", token_policies=[policy], token_ttl="1h", token_max_ttl="24h")
    role_id = root.read(f"auth/{mount}/role/replication/role-id")["data"]["role_id"]
    secret_id = root.write(f"auth/{mount}/role/replication/secret-id")["data"]["secret_id"]
    return AppRoleLogin(mount=mount, role=role_id, secret_id=secret_id), path


def login_client(vault: VaultEndpoint, login: LoginMethod, clock: FakeClock) -> tuple[VaultClient, hvac.Client]:
    hvac_client = hvac.Client(url=vault.addr, token="")
    client = VaultClient(
        vault.addr,
        auth=login,
        client=hvac_client,
        cache_ttl_seconds=0,
        token_renew_threshold_seconds=600,
        clock=clock,
    )
    return client, hvac_client


def test_login_method_logs_in_again_when_renewal_fails(
    vault: VaultEndpoint, root: hvac.Client, approle: tuple[AppRoleLogin, str]
) -> None:
    login, path = approle
    clock = FakeClock()
    client, hvac_client = login_client(vault, login, clock)
    client.read_secret(path)
    first_token = hvac_client.token
    root.auth.token.revoke(first_token)

    clock.advance(3_100)  # below the threshold: renew-self fails for the revoked token

    assert client.read_secret(path) == {"value": "x"}
    assert hvac_client.token not in ("", first_token)


def test_login_method_renews_its_token_before_it_expires(
    vault: VaultEndpoint, root: hvac.Client, approle: tuple[AppRoleLogin, str]
) -> None:
    login, path = approle
    clock = FakeClock()
    client, hvac_client = login_client(vault, login, clock)
    client.read_secret(path)
    token = hvac_client.token

    clock.advance(3_100)
    client.read_secret(path)

    assert hvac_client.token == token
    assert int(root.auth.token.lookup(token)["data"].get("last_renewal_time") or 0) > 0


def test_login_method_logs_in_again_when_vault_denies_a_revoked_token(
    vault: VaultEndpoint, root: hvac.Client, approle: tuple[AppRoleLogin, str]
) -> None:
    login, path = approle
    client, hvac_client = login_client(vault, login, FakeClock())
    client.read_secret(path)
    first_token = hvac_client.token
    root.auth.token.revoke(first_token)

    assert client.read_secret(path) == {"value": "x"}
    assert hvac_client.token not in ("", first_token)


# --- errors -------------------------------------------------------------------------------------


def test_unreachable_vault_is_a_retryable_error_naming_address_and_path() -> None:
    closed = f"http://{LOOPBACK}:{free_port()}"  # bound and released: nothing listens there
    client = VaultClient(closed, auth=TokenAuth(Secret("s.unreachable-token")), timeout_seconds=2)

    with pytest.raises(VaultError) as caught:
        client.read_secret("secret/aurora/connection")

    assert caught.value.retryable
    assert caught.value.fields["addr"] == closed
    assert caught.value.fields["path"] == "secret/aurora/connection"
    assert_leaks_nothing(caught.value, "s.unreachable-token")


def test_sealed_vault_is_a_retryable_error_naming_the_path(tmp_path: Path) -> None:
    with private_openbao(tmp_path) as endpoint:
        client = VaultClient(endpoint.addr, auth=TokenAuth(Secret(endpoint.root_token)))
        hvac.Client(url=endpoint.addr, token=endpoint.root_token).sys.seal()

        with pytest.raises(VaultSealedError) as caught:
            client.read_secret("secret/aurora/connection")

    assert caught.value.retryable
    assert caught.value.fields["path"] == "secret/aurora/connection"
    assert_leaks_nothing(caught.value, endpoint.root_token)


def test_permission_denied_names_the_path_and_not_the_token(
    vault: VaultEndpoint, root: hvac.Client, prefix: str
) -> None:
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data())
    token = token_with_policy(root, read_policy(v2_data_path(f"{prefix}/somewhere/else")))
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(token)))

    with pytest.raises(VaultPermissionError) as caught:
        client.read_aurora_connection(path)

    assert not caught.value.retryable
    assert caught.value.fields["path"] == path
    assert_leaks_nothing(caught.value, token)


def test_an_invalid_token_is_permission_denied(vault: VaultEndpoint, prefix: str) -> None:
    client = VaultClient(vault.addr, auth=TokenAuth(Secret("s.not-a-real-token")))

    with pytest.raises(VaultPermissionError) as caught:
        client.read_secret(f"{prefix}/aurora/connection")

    assert_leaks_nothing(caught.value, "s.not-a-real-token")


def test_missing_path_is_not_found(vault: VaultEndpoint, root: hvac.Client, prefix: str) -> None:
    token = token_with_policy(root, read_policy(v2_data_path(f"{prefix}/*")))
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(token)))

    with pytest.raises(VaultSecretNotFoundError) as caught:
        client.read_secret(f"{prefix}/no/such/secret")

    assert caught.value.fields["path"] == f"{prefix}/no/such/secret"
    assert_leaks_nothing(caught.value, token)


def test_deleted_kv_v2_secret_is_not_found(vault: VaultEndpoint, root: hvac.Client, prefix: str) -> None:
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data())
    root.secrets.kv.v2.delete_latest_version_of_secret(path=path.partition("/")[2], mount_point="secret")
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)))

    with pytest.raises(VaultSecretNotFoundError) as caught:
        client.read_secret(path)

    assert_leaks_nothing(caught.value, vault.root_token)


def test_missing_mount_is_reported_as_such(vault: VaultEndpoint) -> None:
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)))

    with pytest.raises(VaultPermissionError) as caught:
        client.read_secret(f"no-such-mount-{uuid.uuid4().hex[:8]}/aurora/connection")

    assert "no such mount" in caught.value.message


def test_missing_key_names_path_and_key(vault: VaultEndpoint, root: hvac.Client, prefix: str) -> None:
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data(password=None, database=PASSWORD))
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)))

    with pytest.raises(VaultSecretShapeError) as caught:
        client.read_aurora_connection(path)

    assert (caught.value.fields["path"], caught.value.fields["key"]) == (path, "password")
    assert_leaks_nothing(caught.value, vault.root_token)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [({"port": "not-a-port"}, "port"), ({"port": [5432]}, "port"), ({"user": {"name": PASSWORD}}, "user")],
)
def test_wrong_shape_names_path_and_key_but_no_value(
    vault: VaultEndpoint, root: hvac.Client, prefix: str, overrides: dict[str, Any], key: str
) -> None:
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data(**overrides))
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(vault.root_token)))

    with pytest.raises(VaultSecretShapeError) as caught:
        client.read_aurora_connection(path)

    assert (caught.value.fields["path"], caught.value.fields["key"]) == (path, key)
    assert_leaks_nothing(caught.value, vault.root_token, "not-a-port")


def test_debug_logs_of_reads_and_failures_hold_no_secret(
    vault: VaultEndpoint, root: hvac.Client, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data())
    token = token_with_policy(root, read_policy(v2_data_path(path)), ttl="1h")
    client = VaultClient(vault.addr, auth=TokenAuth(Secret(token)), cache_ttl_seconds=0, clock=FakeClock())
    caplog.set_level(logging.DEBUG)

    client.read_aurora_connection(path)
    with pytest.raises(VaultPermissionError):
        client.read_secret(f"{prefix}/forbidden")

    assert caplog.records, "the client logs its reads at DEBUG"
    logged = caplog.text + json.dumps([record.__dict__ for record in caplog.records], default=str)
    for value in (PASSWORD, token):
        assert value not in logged


# --- AWS IAM login ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssumedRole:
    sts_endpoint: str
    role_arn: str
    role_id: str
    assumed_arn: str
    session: boto3.Session


@pytest.fixture(scope="module")
def assumed_role(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssumedRole]:
    """A private moto that checks SigV4 signatures (after two unauthenticated calls: CreateRole and
    AssumeRole), and the credentials of an assumed role, as a Lambda has them."""
    log_dir = tmp_path_factory.mktemp("moto-signed")

    def launch(port: int) -> ChildProcess:
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
        env = {**MINIMAL_ENV, "INITIAL_NO_AUTH_ACTION_COUNT": "2"}
        return ChildProcess("moto-signed", argv, log_path=log_dir / "moto.log", env=env, cwd=log_dir)

    service = PortService("moto-signed", launch, tcp_accepts)
    service.spawn()
    try:
        service.wait_ready(SERVER_START_SECONDS)
        endpoint = f"http://{LOOPBACK}:{service.port}"
        admin = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        role = admin.client("iam", endpoint_url=endpoint).create_role(
            RoleName="aurora-batch-replication", AssumeRolePolicyDocument="{}"
        )["Role"]
        assumed = admin.client("sts", endpoint_url=endpoint).assume_role(
            RoleArn=role["Arn"], RoleSessionName="replication-lambda"
        )
        credentials = assumed["Credentials"]
        yield AssumedRole(
            sts_endpoint=endpoint,
            role_arn=role["Arn"],
            role_id=role["RoleId"],
            assumed_arn=assumed["AssumedRoleUser"]["Arn"],
            session=boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name="us-east-1",
            ),
        )
    finally:
        stop_all([service.child] if service.child else [], SERVER_STOP_SECONDS)


def send_like_vault(payload: dict[str, Any], sts_endpoint: str) -> requests.Response:
    """What Vault's aws auth method does with a login: decode the signed request and send it to
    its configured STS endpoint, keeping the client's path and its signed Host header."""
    url = urlsplit(base64.b64decode(payload["iam_request_url"]).decode())
    headers = {name: values[0] for name, values in json.loads(base64.b64decode(payload["iam_request_headers"])).items()}
    with requests.Session() as session:
        session.trust_env = False
        return session.request(
            payload["iam_http_request_method"],
            f"{sts_endpoint}{url.path or '/'}",
            data=base64.b64decode(payload["iam_request_body"]),
            headers=headers,
            timeout=10,
        )


def caller_identity(response: requests.Response) -> tuple[str, str]:
    document = ET.fromstring(response.text)  # noqa: S314 - the answer of our own loopback moto
    result = document.find("sts:GetCallerIdentityResult", STS_NAMESPACE)
    assert result is not None, response.text
    return result.findtext("sts:Arn", "", STS_NAMESPACE), result.findtext("sts:UserId", "", STS_NAMESPACE)


@pytest.mark.parametrize("signed_for", ["local-endpoint", "public-endpoint"])
def test_signed_login_is_accepted_by_an_sts_that_checks_signatures(assumed_role: AssumedRole, signed_for: str) -> None:
    # "public-endpoint": the Lambda signs for sts.amazonaws.com and Vault's sts_endpoint override
    # sends it elsewhere with the signed Host header, as in production behind a VPC endpoint.
    sts_url = f"{assumed_role.sts_endpoint}/" if signed_for == "local-endpoint" else "https://sts.amazonaws.com/"
    auth = AwsIamAuth(
        role="replication",
        sts_url=sts_url,
        server_id_header="vault.example.com",
        session=assumed_role.session,
    )

    response = send_like_vault(auth.login_payload(), assumed_role.sts_endpoint)

    assert response.status_code == 200, response.text
    arn, user_id = caller_identity(response)
    assert arn == assumed_role.assumed_arn
    # Vault binds `bound_iam_principal_arn` through the role's unique ID: the UserId's prefix.
    assert user_id.startswith(f"{assumed_role.role_id}:")


def test_a_login_replayed_with_another_server_id_fails_the_signature_check(assumed_role: AssumedRole) -> None:
    auth = AwsIamAuth(
        role="replication",
        sts_url=f"{assumed_role.sts_endpoint}/",
        server_id_header="vault.example.com",
        session=assumed_role.session,
    )
    payload = auth.login_payload()
    headers = json.loads(base64.b64decode(payload["iam_request_headers"]))
    headers["X-Vault-AWS-IAM-Server-ID"] = ["another-vault.example.com"]
    payload["iam_request_headers"] = base64.b64encode(json.dumps(headers).encode()).decode()

    response = send_like_vault(payload, assumed_role.sts_endpoint)

    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


def test_a_rejected_iam_login_names_mount_and_role_and_leaks_no_credentials(
    vault: VaultEndpoint, assumed_role: AssumedRole
) -> None:
    mount = f"aws-{uuid.uuid4().hex[:8]}"
    auth = AwsIamAuth(
        role="replication", mount=mount, sts_url=f"{assumed_role.sts_endpoint}/", session=assumed_role.session
    )
    client = VaultClient(vault.addr, auth=auth)

    with pytest.raises(VaultLoginError) as caught:
        client.read_secret("secret/aurora/connection")

    assert (caught.value.fields["mount"], caught.value.fields["role"]) == (mount, "replication")
    assert caught.value.fields["path"] == "secret/aurora/connection"
    frozen = assumed_role.session.get_credentials().get_frozen_credentials()
    assert_leaks_nothing(caught.value, frozen.secret_key, frozen.token)


def test_iam_login_through_openbao(
    vault: VaultEndpoint, root: hvac.Client, prefix: str, assumed_role: AssumedRole
) -> None:
    """The whole chain: OpenBao's aws auth method verifies the login through moto's STS."""
    if "aws" not in root.adapter.get("/v1/sys/plugins/catalog")["data"].get("auth", []):
        pytest.skip(
            "this OpenBao build has no `aws` auth method (OpenBao ships it as an external plugin); "
            "the signed login is checked against moto's STS by the tests above"
        )
    mount = f"aws-{uuid.uuid4().hex[:8]}"
    root.sys.enable_auth_method("aws", path=mount)
    root.write(
        f"auth/{mount}/config/client",
        access_key="testing",
        secret_key="testing",
        sts_endpoint=assumed_role.sts_endpoint,
        iam_endpoint=assumed_role.sts_endpoint,
        sts_region="us-east-1",
    )
    path = f"{prefix}/aurora/connection"
    put_v2(root, path, aurora_data())
    policy = f"it-vault-{uuid.uuid4().hex[:10]}"
    root.sys.create_or_update_policy(name=policy, policy=read_policy(v2_data_path(path)))
    root.write(
        f"auth/{mount}/role/replication",
        auth_type="iam",
        bound_iam_principal_arn=[assumed_role.role_arn],
        resolve_aws_unique_ids=False,  # no IAM call: the private moto checks signatures
        token_policies=[policy],
    )
    auth = AwsIamAuth(
        role="replication", mount=mount, sts_url=f"{assumed_role.sts_endpoint}/", session=assumed_role.session
    )

    assert VaultClient(vault.addr, auth=auth).read_aurora_connection(path).password.reveal() == PASSWORD
