"""PLACEHOLDER handler for the s3_cleanup Lambda, written by the build (issue 9) only so that
`make build` has something to package. The lead replaces this file with the real handler.
It must keep exposing `lambda_handler(event, context)`."""

from __future__ import annotations

from typing import Any

import aurora_batch


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"function": "s3_cleanup", "version": aurora_batch.__version__, "placeholder": True}
