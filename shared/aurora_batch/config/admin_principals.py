"""ADMIN_PRINCIPALS: the signed principals that may change a watermark or a lease.

fnmatch patterns on the caller's ARN as the function URL's AWS_IAM authentication signs it, for
example `arn:aws:sts::123456789012:assumed-role/DataOps/*` (any session of the DataOps role). A
comma-separated list, or a JSON array (what Terraform writes). Each names one account: a pattern
that would match any account, or any ARN at all, is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_PRINCIPAL_PATTERNS = 50
MAX_PRINCIPAL_CHARS = 2048  # IAM's limit on an ARN
_PRINCIPAL_PATTERN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[^\s,]+")


def parse_admin_principals(value: Any) -> tuple[str, ...]:
    """The patterns of a comma-separated string or a JSON array; ValueError names the bad one."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON array of ARN patterns ({exc.msg})") from exc
        else:
            value = [item for item in text.split(",") if item.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be ARN patterns, comma-separated or a JSON array of strings")
    patterns = tuple(item.strip() for item in value if item.strip())
    if len(patterns) > MAX_PRINCIPAL_PATTERNS:
        raise ValueError(f"at most {MAX_PRINCIPAL_PATTERNS} patterns (received {len(patterns)})")
    for pattern in patterns:
        if len(pattern) > MAX_PRINCIPAL_CHARS or not _PRINCIPAL_PATTERN.fullmatch(pattern):
            raise ValueError(
                f"{pattern[:80]!r} is not an IAM or STS ARN pattern of one account "
                "(such as arn:aws:sts::123456789012:assumed-role/DataOps/*)"
            )
    return patterns
