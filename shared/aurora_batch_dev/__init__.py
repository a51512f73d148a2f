"""Development tooling beside the production package ``aurora_batch``: the local stack of real
services, the Snowflake emulator and its shims, the demo, and the CLI's ``stack`` and ``demo``
commands. Tests, benchmarks and ``make demo`` use it; no Lambda zip contains it.

The names below load lazily, so ``python -m aurora_batch_dev.snowflake_emulator`` does not
import the stack's clients (psycopg2, boto3, hvac, the Snowflake connector) it has no use for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aurora_batch_dev.services import PostgresInfo
    from aurora_batch_dev.stack import (
        VAULT_SECRET_PATH_AURORA,
        VAULT_SECRET_PATH_SNOWFLAKE,
        LocalStack,
        run_stack_up,
    )

__all__ = [
    "VAULT_SECRET_PATH_AURORA",
    "VAULT_SECRET_PATH_SNOWFLAKE",
    "LocalStack",
    "PostgresInfo",
    "run_stack_up",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from aurora_batch_dev import stack

    return getattr(stack, name)
