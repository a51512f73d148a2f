"""A moto server whose DynamoDB requests run one at a time: `python atomic_moto_server.py PORT`.

DynamoDB applies each conditional write atomically. moto's threaded server does not: two
concurrent UpdateItem calls can both pass the same condition. Serializing DynamoDB requests
restores the guarantee that the state store's lease and watermark writes rely on, so tests that
race real threads against it are deterministic in outcome.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
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


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), application, threaded=True, request_handler=MotoRequestHandler)
