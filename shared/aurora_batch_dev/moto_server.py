"""The local stack's moto server, with DynamoDB requests run one at a time.

DynamoDB applies each conditional write atomically; moto's threaded server does not, so two
concurrent UpdateItem calls could both pass the same condition. Serialising DynamoDB requests
restores the guarantee the state store's lease and watermark writes rely on. S3, STS, IAM and
CloudWatch requests stay concurrent.

Run: python -m aurora_batch_dev.moto_server -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_moto = DomainDispatcherApplication(create_backend_app)
_dynamodb_lock = threading.Lock()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
        with _dynamodb_lock:
            return list(_moto(environ, start_response))  # the whole request inside the lock
    response: Iterable[bytes] = _moto(environ, start_response)
    return response


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="moto with atomic DynamoDB requests")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    run_simple(args.host, args.port, application, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
