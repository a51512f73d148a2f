"""Holding statements running in the local Snowflake emulator (its holds route), as a long COPY,
MERGE or INSERT would run in Snowflake, until the test releases them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from aurora_batch_dev.emulator_api import HOLDS_ROUTE


class EmulatorHolds:
    def __init__(self, stack: Any) -> None:
        self._url = f"{stack.snowflake_endpoint}{HOLDS_ROUTE}"
        self._http = requests.Session()
        self._http.trust_env = False

    def hold(self, pattern: str) -> None:
        self._http.post(self._url, json={"pattern": pattern}, timeout=10).raise_for_status()

    def held(self) -> int:
        """How many statements are waiting in a hold right now."""
        response = self._http.get(self._url, timeout=10)
        response.raise_for_status()
        return int(response.json()["held"])

    def release(self) -> None:
        self._http.delete(self._url, timeout=10).raise_for_status()


@contextmanager
def holding(stack: Any, pattern: str) -> Iterator[EmulatorHolds]:
    """Hold statements matching `pattern` until the block ends (or `release()` is called)."""
    holds = EmulatorHolds(stack)
    holds.hold(pattern)
    try:
        yield holds
    finally:
        holds.release()
