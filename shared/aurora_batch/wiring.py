"""Builds the adapters from the settings, once per warm container. Every client can be
injected instead, which is how tests and the local stack point them elsewhere."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from aurora_batch.adapters.postgres import PostgresSource
from aurora_batch.adapters.snowflake import session_factory
from aurora_batch.adapters.vault import DEFAULT_STS_URL, VaultClient, vault_auth
from aurora_batch.config import Settings
from aurora_batch.errors import VaultSecretShapeError
from aurora_batch.logic.replicate import Services
from aurora_batch.secrets import Secret
from aurora_batch.wiring_light import OpsRuntime

MASKING_KEY = "hmac_key"


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
        from aurora_batch.adapters.lambda_invoker import make_lambda_client

        return make_lambda_client(self.settings.aws_endpoint_url, self.settings.aws_region)

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
        source = PostgresSource.from_params(
            host=aurora.host,
            port=aurora.port,
            database=aurora.database,
            user=aurora.user,
            password=aurora.password.reveal(),
            sslmode=aurora.sslmode,
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
            database=snow.database,
            schema=snow.schema,
            role=snow.role,
        )
        return Services(
            source=source,
            snowflake=snowflake,
            staging=self.staging(),
            state=self.state,
            database=snow.database,
            schema=snow.schema,
            masking_key=self.masking_key,
        )
