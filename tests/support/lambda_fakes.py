"""Fakes for what cannot run here: the Lambda service itself (context and invocations).

Everything the functions talk to (PostgreSQL, S3, DynamoDB, Vault, Snowflake) is real."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeLambdaContext:
    """The attributes Powertools and the handlers read from a Lambda context."""

    function_name: str = "aurora-batch-replication"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    timeout_seconds: float = 900.0
    started: float = field(default_factory=time.monotonic)
    identity: Any = None
    client_context: Any = None

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "2026/01/01/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class FakeLambdaService:
    """Records asynchronous invocations (InvocationType=Event) as boto3's Lambda client would send them."""

    invocations: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        self.invocations.append(
            {"function": FunctionName, "type": InvocationType, "payload": json.loads(Payload.decode())}
        )
        return {"StatusCode": 202 if InvocationType == "Event" else 200}

    def drain(self, handler: Callable[[dict[str, Any], Any], Any], context_factory: Callable[[], Any]) -> list[Any]:
        """Deliver queued events to the handler, as the Lambda service would, until none are left."""
        results = []
        while self.invocations:
            invocation = self.invocations.pop(0)
            results.append(handler(invocation["payload"], context_factory()))
        return results


def load_handler(service: str) -> ModuleType:
    """Import services/<service>/handler.py under a unique module name (each zip's root has handler.py)."""
    name = f"handler_{service}"
    path = REPO / "services" / service / "handler.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((REPO / "tests" / "events" / name).read_text()))
