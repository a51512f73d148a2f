"""Builds the adapters from the settings, once per warm container. Every client can be
injected instead, which is how tests and the local stack point them elsewhere.

With wiring_light, the only modules that import adapters: logic sees them through the
Protocols in aurora_batch.ports, and the entry points pass a Runtime in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from aurora_batch.adapters.config_source import TablesDocumentReader
from aurora_batch.adapters.lambda_invoker import LambdaInvoker, make_lambda_client
from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.adapters.postgres_verify import source_digests
from aurora_batch.adapters.snowflake import session_factory
from aurora_batch.adapters.vault import DEFAULT_STS_URL, VaultClient, vault_auth
from aurora_batch.config import Settings, settings_from_env
from aurora_batch.errors import VaultSecretShapeError
from aurora_batch.logic.replicate import Services
from aurora_batch.model import quote_sf, snowflake_object_name
from aurora_batch.secrets import Secret
from aurora_batch.wiring_light import OpsRuntime

MASKING_KEY = "hmac_key"
# libpq's sslmode values from the weakest to the strictest.
_SSLMODE_STRENGTH = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of one cold start, TABLES read from SSM or S3 when TABLES_SOURCE says so."""
    env = os.environ if environ is None else environ
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    return settings_from_env(env, read_tables=TablesDocumentReader(endpoint, region))


def stricter_sslmode(configured: str, from_secret: str | None) -> str:
    """The Aurora secret may ask for more than AURORA_SSLMODE, never for less."""
    if from_secret is None or _SSLMODE_STRENGTH.index(from_secret) < _SSLMODE_STRENGTH.index(configured):
        return configured
    return from_secret


class Runtime(OpsRuntime):
    """Lazily built clients for one process. Secrets are read through the Vault client's cache."""

    settings: Settings

    def __init__(
        self,
        settings: Settings,
        *,
        vault: VaultClient | None = None,
        s3_client: Any = None,
        dynamodb_client: Any = None,
        lambda_client: Any = None,
    ) -> None:
        super().__init__(settings, s3_client=s3_client, dynamodb_client=dynamodb_client)
        self._vault = vault
        self._lambda_client = lambda_client

    @cached_property
    def vault(self) -> VaultClient:
        if self._vault is not None:
            return self._vault
        s = self.settings
        auth = vault_auth(
            token=Secret(s.vault_token.get_secret_value()) if s.vault_token else None,
            role=s.vault_role,
            aws_mount=s.vault_auth_mount,
            sts_url=s.aws_endpoint_url or DEFAULT_STS_URL,
            server_id_header=s.vault_iam_server_id,
        )
        return VaultClient(s.vault_addr, auth=auth, cache_ttl_seconds=s.vault_cache_ttl_seconds)

    @cached_property
    def lambda_client(self) -> Any:
        if self._lambda_client is not None:
            return self._lambda_client
        return make_lambda_client(self.settings.aws_endpoint_url, self.settings.aws_region)

    def invoker(self) -> LambdaInvoker:
        return LambdaInvoker(self.lambda_client)

    def masking_key(self) -> bytes:
        secret = self.vault.read_secret(self.settings.vault_secret_path_masking)
        value = secret.get(MASKING_KEY)
        if not isinstance(value, str) or len(value) < 16:
            raise VaultSecretShapeError(
                "the masking secret needs a string key of at least 16 characters",
                path=self.settings.vault_secret_path_masking,
                key=MASKING_KEY,
            )
        return value.encode()

    def services(self) -> Services:
        """Read the connection secrets (cached) and build the per-run adapters."""
        s = self.settings
        aurora = self.vault.read_aurora_connection(s.vault_secret_path_aurora)
        snow = self.vault.read_snowflake_credentials(s.vault_secret_path_snowflake)
        database, schema = snowflake_object_name(snow.database), snowflake_object_name(snow.schema)
        source = PostgresSource.from_params(
            host=aurora.host,
            port=aurora.port,
            database=aurora.database,
            user=aurora.user,
            password=aurora.password.reveal(),
            sslmode=stricter_sslmode(s.aurora_sslmode, aurora.sslmode),
            ssl_root_cert_pem=aurora.sslrootcert,
        )
        snowflake = session_factory(
            endpoint=s.snowflake_endpoint or snow.host,
            account=snow.account,
            user=snow.user,
            password=snow.password.reveal() if snow.password else None,
            private_key=snow.private_key.reveal() if snow.private_key else None,
            private_key_passphrase=snow.private_key_passphrase.reveal() if snow.private_key_passphrase else None,
            warehouse=snow.warehouse,
            # quoted: the session logs in to exactly the objects the loader's statements name
            database=quote_sf(database),
            schema=quote_sf(schema),
            role=snow.role,
            statement_timeout_seconds=s.snowflake_statement_timeout_seconds,
        )
        return Services(
            source=source,
            snowflake=snowflake,
            staging=self.staging(),
            state=self.state,
            database=database,
            schema=schema,
            masking_key=self.masking_key,
            transform_hooks={hook.path: hook.filters_rows for hook in s.transform_hooks},
            digests=source_digests,
        )
