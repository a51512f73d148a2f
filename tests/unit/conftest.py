"""Unit tests are fast and use no services: asking for the local stack here is a mistake."""

from __future__ import annotations

from typing import NoReturn

import pytest


@pytest.fixture(scope="session")
def stack() -> NoReturn:
    pytest.fail("tests/unit must not start the local stack: move this test to tests/integration or tests/e2e")
