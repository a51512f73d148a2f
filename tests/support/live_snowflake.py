"""The opt-in real-Snowflake suite's configuration, read from AURORA_BATCH_LIVE_SNOWFLAKE_* variables.

Required: ACCOUNT, USER, WAREHOUSE, DATABASE, ROLE, and PASSWORD or PRIVATE_KEY (PEM text, or
the path of a PEM file; PRIVATE_KEY_PASSPHRASE if it is encrypted). Optional: ENDPOINT (a
PrivateLink host, as SNOWFLAKE_ENDPOINT) and STAGE, an existing external S3 stage named
DATABASE.SCHEMA.STAGE; the stage tests also need AWS credentials (the default boto3 chain)
that may write, read and delete under the stage's URL. Without the required variables every
live test skips, naming the variables that are missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aurora_batch.adapters.snowflake import SnowflakeSession, session_factory

PREFIX = "AURORA_BATCH_LIVE_SNOWFLAKE_"
REQUIRED = ("ACCOUNT", "USER", "WAREHOUSE", "DATABASE", "ROLE")
STAGE_VARIABLE = PREFIX + "STAGE"


def missing_variables(environ: Mapping[str, str]) -> list[str]:
    missing = [PREFIX + name for name in REQUIRED if not environ.get(PREFIX + name)]
    if not environ.get(PREFIX + "PASSWORD") and not environ.get(PREFIX + "PRIVATE_KEY"):
        missing.append(f"{PREFIX}PASSWORD or {PREFIX}PRIVATE_KEY")
    return missing


def skip_reason(missing: list[str]) -> str:
    return "real Snowflake not configured (opt-in): set " + ", ".join(missing)


def _pem(value: str | None) -> str | None:
    """PEM text as given, with literal \\n turned into line breaks (CI secrets), or read from a path."""
    if not value:
        return None
    if value.lstrip().startswith("-----BEGIN"):
        return value.replace("\\n", "\n") if "\n" not in value else value
    return Path(value).expanduser().read_text()


@dataclass(frozen=True)
class LiveSnowflake:
    account: str
    user: str
    warehouse: str
    database: str
    role: str
    password: str | None
    private_key: str | None
    private_key_passphrase: str | None
    endpoint: str | None
    stage: str | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LiveSnowflake:
        def get(name: str) -> str | None:
            return environ.get(PREFIX + name) or None

        private_key = _pem(get("PRIVATE_KEY"))
        return cls(
            account=environ[PREFIX + "ACCOUNT"],
            user=environ[PREFIX + "USER"],
            warehouse=environ[PREFIX + "WAREHOUSE"],
            database=environ[PREFIX + "DATABASE"],
            role=environ[PREFIX + "ROLE"],
            password=None if private_key else get("PASSWORD"),
            private_key=private_key,
            private_key_passphrase=get("PRIVATE_KEY_PASSPHRASE") if private_key else None,
            endpoint=get("ENDPOINT"),
            stage=get("STAGE"),
        )

    def connect(self, schema: str, query_tag: str) -> SnowflakeSession:
        """A session through the product's own adapter, in `schema`."""
        factory = session_factory(
            endpoint=self.endpoint,
            account=self.account,
            user=self.user,
            password=self.password,
            private_key=self.private_key,
            private_key_passphrase=self.private_key_passphrase,
            warehouse=self.warehouse,
            database=self.database,
            schema=schema,
            role=self.role,
        )
        return factory(query_tag)

    def credentials_secret(self, schema: str) -> dict[str, str]:
        """The Vault secret the product reads (SnowflakeCredentialsSecret's keys)."""
        secret = {
            "account": self.account,
            "user": self.user,
            "warehouse": self.warehouse,
            "database": self.database,
            "schema": schema,
            "role": self.role,
        }
        if self.private_key:
            secret["private_key"] = self.private_key
            if self.private_key_passphrase:
                secret["private_key_passphrase"] = self.private_key_passphrase
        elif self.password:
            secret["password"] = self.password
        return secret


@dataclass(frozen=True)
class LiveStage:
    """The external stage and where its URL points in S3."""

    name: str  # DATABASE.SCHEMA.STAGE
    bucket: str
    prefix: str  # the URL's path, without slashes at either end
    s3_client: Any


def stage_location(url: str) -> tuple[str, str] | None:
    """(bucket, prefix) of an s3:// stage URL, or None for another cloud."""
    parsed = urlparse(url.strip().strip("[]\"'"))
    if parsed.scheme not in ("s3", "s3gov") or not parsed.netloc:
        return None
    return parsed.netloc, parsed.path.strip("/")


def live_environment() -> tuple[LiveSnowflake | None, list[str]]:
    missing = missing_variables(os.environ)
    return (None if missing else LiveSnowflake.from_environ(os.environ)), missing
