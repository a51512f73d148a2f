"""The local development stack (dev/test only; never packaged into a Lambda zip).

The names below load lazily, so ``python -m aurora_batch.devstack.snowflake_emulator`` does not
import the stack's clients (psycopg2, boto3, hvac, the Snowflake connector) it has no use for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aurora_batch.devstack.services import PostgresInfo
    from aurora_batch.devstack.stack import (
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
    from aurora_batch.devstack import stack

    return getattr(stack, name)
