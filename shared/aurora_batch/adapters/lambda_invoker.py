"""Lambda adapter (boto3): asynchronous invocations for fan-out and self-continuation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aurora_batch.errors import InvokeError

__all__ = ["InvokeError", "LambdaInvoker", "make_lambda_client"]


class LambdaInvoker:
    """Implements ports.Invoker."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> None:
        try:
            answer = self._client.invoke(
                FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except Exception as exc:
            raise InvokeError("asynchronous invocation failed", function=function_name) from exc
        if int(answer.get("StatusCode", 0)) != 202:
            raise InvokeError("asynchronous invocation was not accepted", function=function_name)


def make_lambda_client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client("lambda", endpoint_url=endpoint_url, region_name=region)
