"""Builds the S3, DynamoDB and STS adapters, and nothing else: what the cleanup and admin functions
(and the CLI's watermark commands) need. It imports no pyarrow, Snowflake connector, psycopg2 or
hvac, which their zips do not ship; wiring.Runtime extends it with Vault, PostgreSQL and Snowflake for replication."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from aurora_batch.adapters.s3 import S3Staging, make_s3_client
from aurora_batch.adapters.state_store import StateStore, make_dynamodb_client
from aurora_batch.adapters.sts import CallerIdentity, make_sts_client
from aurora_batch.config import OpsSettings
from aurora_batch.errors import ConfigError


class OpsRuntime:
    """Lazily built S3 and DynamoDB clients for one process. Either client can be injected."""

    def __init__(
        self, settings: OpsSettings, *, s3_client: Any = None, dynamodb_client: Any = None, sts_client: Any = None
    ) -> None:
        self.settings = settings
        self._s3_client = s3_client
        self._dynamodb_client = dynamodb_client
        self._sts_client = sts_client

    @cached_property
    def s3_client(self) -> Any:
        return self._s3_client or make_s3_client(self.settings.aws_endpoint_url, self.settings.aws_region)

    @cached_property
    def dynamodb_client(self) -> Any:
        return self._dynamodb_client or make_dynamodb_client(self.settings.aws_endpoint_url, self.settings.aws_region)

    @cached_property
    def sts_client(self) -> Any:
        return self._sts_client or make_sts_client(self.settings.aws_endpoint_url, self.settings.aws_region)

    def caller_arn(self) -> str:
        """Who this process's AWS credentials are (STS GetCallerIdentity): the CLI's audit actor."""
        return CallerIdentity(self.sts_client).arn()

    @cached_property
    def state(self) -> StateStore:
        return StateStore(self.settings.state_table, self.dynamodb_client)

    def staging(self) -> S3Staging:
        if not self.settings.staging_bucket:
            raise ConfigError("STAGING_BUCKET is not set", field="staging_bucket")
        return S3Staging(self.s3_client, self.settings.staging_bucket)
