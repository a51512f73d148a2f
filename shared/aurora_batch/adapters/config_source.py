"""Where a large TABLES document lives when the Lambda environment (4 KB in all) cannot hold it:
an SSM Parameter Store parameter or an S3 object, written by Terraform, read once per cold start."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from aurora_batch.errors import ConfigError

# Far above any real table list, far below what could exhaust a Lambda's memory.
MAX_TABLES_DOCUMENT_BYTES = 1 << 20


class TablesDocumentReader:
    """settings_from_env's `read_tables`: (source, location) -> the TABLES JSON document."""

    def __init__(self, endpoint_url: str | None, region: str | None, *, ssm_client: Any = None, s3_client: Any = None):
        self._endpoint_url, self._region = endpoint_url, region
        self._ssm_client, self._s3_client = ssm_client, s3_client

    def __call__(self, source: str, location: str) -> str:
        try:
            text = self._read_ssm(location) if source == "ssm" else self._read_s3(location)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigError(
                f"cannot read TABLES from {source} {location!r}: {_reason(exc)}", field="TABLES_PARAMETER"
            ) from exc
        if len(text.encode()) > MAX_TABLES_DOCUMENT_BYTES:
            raise ConfigError(
                f"the TABLES document at {location!r} is larger than {MAX_TABLES_DOCUMENT_BYTES} bytes",
                field="TABLES_PARAMETER",
            )
        return text

    def _client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self._endpoint_url, region_name=self._region)

    def _read_ssm(self, name: str) -> str:
        client = self._ssm_client or self._client("ssm")
        value: str = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return value

    def _read_s3(self, uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
            raise ConfigError(f"TABLES_PARAMETER must be an s3://bucket/key URI, got {uri!r}", field="TABLES_PARAMETER")
        client = self._s3_client or self._client("s3")
        body = client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        data: bytes = body.read(MAX_TABLES_DOCUMENT_BYTES + 1)
        return data.decode("utf-8")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__
