"""One pydantic validation failure as the ConfigError every configuration source raises."""

from __future__ import annotations

from pydantic import ValidationError as PydanticValidationError

from aurora_batch.errors import ConfigError


def as_config_error(exc: PydanticValidationError, source: str) -> ConfigError:
    """A ConfigError naming the first field at fault and the value received (never a secret's)."""
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or source
    received = first.get("input")
    # A model-level error receives every field (a token among them): show none of them.
    secret = "token" in location or "password" in location or not first["loc"]
    shown = "<secret>" if secret else received
    if first["type"] == "extra_forbidden":
        message = f"{source}: unknown setting {location!r}"
    else:
        message = f"{source}: {location}: {first['msg']} (received {shown!r})"
    return ConfigError(message, field=location, source=source)
