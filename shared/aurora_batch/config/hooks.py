"""TRANSFORM_HOOKS: the registry of transform hooks a table's `transform` may name.

A hook is code that runs inside the replication function with its credentials, so only the hooks
configuration registers can run; a table naming any other path is refused. Each registration says
whether the hook may drop rows (`filters_rows`); a hook that does not declare it must yield as many
rows as it was given. Written as JSON: a list of dotted paths or of
`{"path": ..., "filters_rows": true}` objects, or a map of path to `{"filters_rows": ...}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DOTTED_PATH = re.compile(r"[A-Za-z_][\w.]*[.:][A-Za-z_]\w*")


class TransformHookRegistration(BaseModel):
    """One hook a table may name in `transform`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="dotted path of the hook, 'package.module.function'")
    filters_rows: bool = Field(default=False, description="the hook may yield fewer rows than it is given")

    @field_validator("path")
    @classmethod
    def _dotted_path(cls, value: str) -> str:
        if not DOTTED_PATH.fullmatch(value):
            raise ValueError("must be a dotted path such as 'package.module.function'")
        return value


def parse_transform_hooks(raw: Any) -> Any:
    """TRANSFORM_HOOKS as the list of registrations pydantic validates (JSON text accepted)."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON: {exc.msg}") from None
    if isinstance(value, dict):
        return [{"path": path, **(options or {})} for path, options in value.items()]
    if isinstance(value, list | tuple):
        return [{"path": entry} if isinstance(entry, str) else entry for entry in value]
    return value
