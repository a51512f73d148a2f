"""Secrets a test writes into the local stack's OpenBao (kv-v2 at secret/) and removes afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import hvac

MOUNT = "secret"


class TestSecrets:
    """Writes each secret at a fresh path; `path` is the form VAULT_SECRET_PATH_* takes."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, stack: Any) -> None:
        self._client = hvac.Client(url=stack.vault_addr, token=stack.vault_token)
        self._sub_paths: list[str] = []

    def write(self, name: str, secret: Mapping[str, str]) -> str:
        sub_path = f"tests/{name}-{secrets.token_hex(6)}"
        self._client.secrets.kv.v2.create_or_update_secret(path=sub_path, secret=dict(secret), mount_point=MOUNT)
        self._sub_paths.append(sub_path)
        return f"{MOUNT}/{sub_path}"

    def delete_all(self) -> None:
        for sub_path in self._sub_paths:
            self._client.secrets.kv.v2.delete_metadata_and_all_versions(path=sub_path, mount_point=MOUNT)
        self._sub_paths.clear()
