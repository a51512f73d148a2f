"""Vault adapter and typed secrets, without servers: masking, shape checks, the signed IAM login."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import traceback
from typing import Any

import boto3
import botocore.session
import pytest
from aurora_batch.adapters.vault import (
    GET_CALLER_IDENTITY_BODY,
    IAM_SERVER_ID_HEADER,
    AwsIamAuth,
    TokenAuth,
    VaultClient,
    signed_iam_login_payload,
    sts_region_of,
    vault_auth,
)
from aurora_batch.errors import ConfigError, VaultLoginError, VaultSecretShapeError
from aurora_batch.secrets import MASK, AuroraConnectionSecret, Secret, SnowflakeCredentialsSecret
from botocore.credentials import CredentialResolver, Credentials

PASSWORD = "pw-Unit-7f3a9c"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAw\n-----END PRIVATE KEY-----\n"
PASSPHRASE = "passphrase-Unit-51e0"
AURORA_PATH = "secret/aurora/connection"
SNOWFLAKE_PATH = "secret/snowflake/credentials"
ACCESS_KEY = "ASIAUNITTESTEXAMPLE1"
SECRET_KEY = "unit-secret-key-0b5f1d"
SESSION_TOKEN = "unit-session-token-c2a7e4"


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


def snowflake_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account": "xy12345",
        "user": "LOADER",
        "password": PASSWORD,
        "warehouse": "LOAD_WH",
        "database": "RAW",
        "schema": "AURORA",
        "role": "LOADER_ROLE",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def error_text(exc: BaseException) -> str:
    """Everything a log line or report could show of an error."""
    parts = ["".join(traceback.format_exception(exc)), repr(exc)]
    if hasattr(exc, "to_dict"):
        parts.append(json.dumps(exc.to_dict(), default=str))
    return "\n".join(parts)


# --- Secret -------------------------------------------------------------------------------


def test_secret_masks_itself_everywhere_but_reveal() -> None:
    secret = Secret(PASSWORD)

    assert secret.reveal() == PASSWORD
    for shown in (str(secret), repr(secret), f"{secret}", "%s" % secret, f"{secret!r}"):  # noqa: UP031
        assert PASSWORD not in shown
        assert MASK in shown


def test_secrets_compare_by_value() -> None:
    assert Secret(PASSWORD) == Secret(PASSWORD)
    assert Secret(PASSWORD) != Secret(PASSWORD + "x")
    assert len({Secret(PASSWORD), Secret(PASSWORD)}) == 1


def test_json_dump_of_a_secret_fails_without_printing_it() -> None:
    with pytest.raises(TypeError) as caught:
        json.dumps({"password": Secret(PASSWORD)})
    assert PASSWORD not in str(caught.value)


# --- Aurora connection secret -------------------------------------------------------------


def test_aurora_secret_parses_and_masks_password_in_repr() -> None:
    parsed = AuroraConnectionSecret.from_mapping(
        aurora_data(sslmode="verify-full", engine="postgres"), path=AURORA_PATH
    )

    assert parsed.host == "aurora.example.internal"
    assert parsed.port == 5432
    assert parsed.password.reveal() == PASSWORD
    assert parsed.sslmode == "verify-full"
    assert PASSWORD not in repr(parsed)
    assert PASSWORD not in str(parsed)


def test_aurora_secret_carries_the_ca_certificates_for_verify_full() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    parsed = AuroraConnectionSecret.from_mapping(aurora_data(sslmode="verify-full", sslrootcert=pem), path=AURORA_PATH)

    assert parsed.sslrootcert == pem


def test_aurora_port_written_as_digits_is_an_int() -> None:
    # `vault kv put secret/aurora/connection port=5432` stores the string "5432".
    assert AuroraConnectionSecret.from_mapping(aurora_data(port="5433"), path=AURORA_PATH).port == 5433


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"password": None}, "password"),
        ({"host": None}, "host"),
        ({"port": None}, "port"),
        ({"port": "five-four-three-two"}, "port"),
        ({"port": 5432.5}, "port"),
        ({"port": True}, "port"),
        ({"port": 70000}, "port"),
        ({"user": 12345}, "user"),
        ({"database": "  "}, "database"),
        ({"password": ["not", "a", "string"]}, "password"),
        ({"sslmode": "sometimes"}, "sslmode"),
        ({"sslrootcert": "/etc/ssl/rds-global-bundle.pem"}, "sslrootcert"),  # a path, not the PEM
    ],
)
def test_aurora_secret_of_wrong_shape_names_path_and_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(VaultSecretShapeError) as caught:
        AuroraConnectionSecret.from_mapping(aurora_data(**overrides), path=AURORA_PATH)

    assert caught.value.fields["path"] == AURORA_PATH
    assert caught.value.fields["key"] == key
    assert not caught.value.retryable


@pytest.mark.parametrize("key", ["password", "user", "port"])
def test_shape_errors_never_quote_the_value(key: str) -> None:
    # A value put under the wrong key, or with the wrong type, may be the secret itself.
    wrong = {"password": 918273645, "user": ["u-9f8e7d"], "port": "pw-in-port-5c1b"}[key]
    with pytest.raises(VaultSecretShapeError) as caught:
        AuroraConnectionSecret.from_mapping(aurora_data(**{key: wrong}), path=AURORA_PATH)

    text = error_text(caught.value)
    assert str(wrong).strip("[]'") not in text
    assert PASSWORD not in text


# --- Snowflake credentials secret ---------------------------------------------------------


def test_snowflake_secret_with_password() -> None:
    parsed = SnowflakeCredentialsSecret.from_mapping(
        snowflake_data(host="xy12345.privatelink.snowflakecomputing.com"), path=SNOWFLAKE_PATH
    )

    assert parsed.password is not None
    assert parsed.password.reveal() == PASSWORD
    assert parsed.private_key is None
    assert parsed.host == "xy12345.privatelink.snowflakecomputing.com"
    assert PASSWORD not in repr(parsed)


def test_snowflake_secret_with_key_pair_masks_key_and_passphrase() -> None:
    parsed = SnowflakeCredentialsSecret.from_mapping(
        snowflake_data(password=None, private_key=PEM_KEY, private_key_passphrase=PASSPHRASE),
        path=SNOWFLAKE_PATH,
    )

    assert parsed.password is None
    assert parsed.private_key is not None
    assert parsed.private_key.reveal() == PEM_KEY
    assert parsed.private_key_passphrase is not None
    assert parsed.private_key_passphrase.reveal() == PASSPHRASE
    assert "PRIVATE KEY" not in repr(parsed)
    assert PASSPHRASE not in repr(parsed)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"password": None}, "password|private_key"),
        ({"private_key": PEM_KEY}, "password|private_key"),
        ({"private_key_passphrase": PASSPHRASE}, "private_key_passphrase"),
        ({"password": None, "private_key": "MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAw"}, "private_key"),
        ({"warehouse": None}, "warehouse"),
        ({"role": 7}, "role"),
    ],
)
def test_snowflake_secret_of_wrong_shape_names_path_and_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(VaultSecretShapeError) as caught:
        SnowflakeCredentialsSecret.from_mapping(snowflake_data(**overrides), path=SNOWFLAKE_PATH)

    assert caught.value.fields == {**caught.value.fields, "path": SNOWFLAKE_PATH, "key": key}
    text = error_text(caught.value)
    assert PASSWORD not in text
    assert PASSPHRASE not in text
    assert "MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAw" not in text


# --- signed IAM login ---------------------------------------------------------------------


def decoded_login(payload: dict[str, Any]) -> tuple[str, dict[str, str], str]:
    url = base64.b64decode(payload["iam_request_url"]).decode()
    header_lists = json.loads(base64.b64decode(payload["iam_request_headers"]))
    headers = {name: values[0] for name, values in header_lists.items()}
    body = base64.b64decode(payload["iam_request_body"]).decode()
    return url, headers, body


def sigv4_signature(headers: dict[str, str], body: str, signed: list[str], secret_key: str, scope: str) -> str:
    """SigV4 for a POST to `/` with no query string, written from the AWS spec, not botocore."""
    by_name = {name.lower(): value for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{' '.join(by_name[name].split())}\n" for name in signed)
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, ";".join(signed), hashlib.sha256(body.encode()).hexdigest()]
    )
    amz_date = by_name["x-amz-date"]
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<access_key>[^/]+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def test_iam_login_payload_is_a_correctly_signed_get_caller_identity() -> None:
    payload = signed_iam_login_payload(
        Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN),
        role="replication",
        sts_url="https://sts.eu-west-1.amazonaws.com/",
        sts_region="eu-west-1",
        server_id_header="vault.example.com",
    )

    assert payload["role"] == "replication"
    assert payload["iam_http_request_method"] == "POST"
    url, headers, body = decoded_login(payload)
    assert url == "https://sts.eu-west-1.amazonaws.com/"
    assert body == GET_CALLER_IDENTITY_BODY == "Action=GetCallerIdentity&Version=2011-06-15"
    assert headers["Host"] == "sts.eu-west-1.amazonaws.com"
    assert headers[IAM_SERVER_ID_HEADER] == "vault.example.com"
    assert headers["X-Amz-Security-Token"] == SESSION_TOKEN
    match = AUTHORIZATION.match(headers["Authorization"])
    assert match is not None
    assert match["access_key"] == ACCESS_KEY
    assert match["scope"] == f"{headers['X-Amz-Date'][:8]}/eu-west-1/sts/aws4_request"
    signed = match["signed"].split(";")
    # The server-ID header must be signed, or it would not protect against replay to another Vault.
    assert {"host", "x-amz-date", "x-amz-security-token", "x-vault-aws-iam-server-id"} <= set(signed)
    assert match["signature"] == sigv4_signature(headers, body, signed, SECRET_KEY, match["scope"])
    assert match["signature"] != sigv4_signature(headers, body, signed, SECRET_KEY + "x", match["scope"])


def test_iam_login_payload_defaults_to_vaults_global_sts_endpoint_without_server_id() -> None:
    payload = signed_iam_login_payload(Credentials(ACCESS_KEY, SECRET_KEY), role="replication")

    url, headers, _ = decoded_login(payload)
    assert url == "https://sts.amazonaws.com/"
    assert headers["Host"] == "sts.amazonaws.com"
    assert IAM_SERVER_ID_HEADER not in headers
    assert "X-Amz-Security-Token" not in headers
    assert "/us-east-1/sts/aws4_request" in headers["Authorization"]


@pytest.mark.parametrize(
    ("sts_url", "region"),
    [
        ("https://sts.amazonaws.com/", "us-east-1"),
        ("https://sts.eu-west-1.amazonaws.com/", "eu-west-1"),
        ("https://sts-fips.us-gov-west-1.amazonaws.com/", "us-gov-west-1"),
        ("https://sts.cn-north-1.amazonaws.com.cn/", "cn-north-1"),
        ("http://127.0.0.1:5000/", "us-east-1"),
    ],
)
def test_iam_login_is_signed_for_the_region_its_sts_url_names(sts_url: str, region: str) -> None:
    assert sts_region_of(sts_url) == region
    payload = signed_iam_login_payload(Credentials(ACCESS_KEY, SECRET_KEY), role="replication", sts_url=sts_url)
    _, headers, _ = decoded_login(payload)
    assert f"/{region}/sts/aws4_request" in headers["Authorization"]


def test_iam_login_payload_never_holds_the_secret_key() -> None:
    payload = signed_iam_login_payload(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), role="replication")

    decoded = json.dumps([payload, decoded_login(payload)])
    assert SECRET_KEY not in decoded


def test_iam_login_payload_rejects_a_relative_sts_url() -> None:
    with pytest.raises(ConfigError) as caught:
        signed_iam_login_payload(Credentials(ACCESS_KEY, SECRET_KEY), role="replication", sts_url="sts/")
    assert caught.value.fields["field"] == "sts_url"


def test_iam_login_uses_the_injected_sessions_credentials() -> None:
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, aws_session_token=SESSION_TOKEN
    )

    payload = AwsIamAuth(role="replication", session=session).login_payload()

    _, headers, _ = decoded_login(payload)
    assert f"Credential={ACCESS_KEY}/" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == SESSION_TOKEN


def test_iam_login_without_aws_credentials_is_a_login_error() -> None:
    no_credentials = botocore.session.Session()
    no_credentials.register_component("credential_provider", CredentialResolver(providers=[]))
    auth = AwsIamAuth(role="replication", mount="aws-prod", session=boto3.Session(botocore_session=no_credentials))

    with pytest.raises(VaultLoginError) as caught:
        auth.login_payload()
    assert caught.value.fields == {"role": "replication", "mount": "aws-prod"}


# --- choosing the auth method and validating settings -------------------------------------


def test_role_means_iam_login() -> None:
    auth = vault_auth(token=None, role="replication", aws_mount="aws-prod", server_id_header="vault.example.com")

    assert isinstance(auth, AwsIamAuth)
    assert (auth.role, auth.mount, auth.server_id_header) == ("replication", "aws-prod", "vault.example.com")


def test_token_means_token_auth() -> None:
    assert vault_auth(token=Secret("s.unit-token"), role=None) == TokenAuth(Secret("s.unit-token"))


@pytest.mark.parametrize(
    ("token", "role"), [(Secret("s.unit-token"), "replication"), (None, None), (Secret(""), None), (None, "")]
)
def test_exactly_one_auth_setting_is_required(token: Secret | None, role: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        vault_auth(token=token, role=role)
    assert "s.unit-token" not in error_text(caught.value)


def test_token_auth_repr_masks_the_token() -> None:
    assert "s.unit-token" not in repr(TokenAuth(Secret("s.unit-token")))


@pytest.mark.parametrize("path", ["secret", "/secret/", "", "  "])
def test_a_path_without_a_mount_and_a_name_is_rejected_before_any_request(path: str) -> None:
    # Port 9 (discard) on loopback: nothing is listening there in the test environment, and no
    # request is made anyway, which the ConfigError (not VaultError) shows.
    client = VaultClient("http://127.0.0.1:9", auth=TokenAuth(Secret("s.unit-token")))
    with pytest.raises(ConfigError):
        client.read_secret(path)


def test_client_settings_are_validated() -> None:
    with pytest.raises(ConfigError):
        VaultClient("http://127.0.0.1:9", auth=TokenAuth(Secret("t")), cache_ttl_seconds=-1)
    with pytest.raises(ConfigError):
        VaultClient("http://127.0.0.1:9", auth=TokenAuth(Secret("t")), kv_versions={"secret": 3})
