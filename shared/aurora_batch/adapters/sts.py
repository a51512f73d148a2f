"""STS adapter (boto3): who the current AWS credentials belong to, for the CLI's audit actor."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from aurora_batch.errors import CallerIdentityError

__all__ = ["CallerIdentity", "make_sts_client"]


class CallerIdentity:
    """The ARN STS GetCallerIdentity returns for the injected client's credentials."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def arn(self) -> str:
        try:
            answer = self._client.get_caller_identity()
        except NoCredentialsError as exc:
            raise CallerIdentityError("no AWS credentials: the caller is unknown") from exc
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise CallerIdentityError("STS refused GetCallerIdentity", code=code) from exc
        except BotoCoreError as exc:
            raise CallerIdentityError("could not reach STS to identify the caller") from exc
        arn = answer.get("Arn")
        if not isinstance(arn, str) or not arn:
            raise CallerIdentityError("STS returned no caller ARN")
        return arn


def make_sts_client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client("sts", endpoint_url=endpoint_url, region_name=region)
