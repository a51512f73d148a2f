"""Everything a run talks to, as the interfaces in aurora_batch.ports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aurora_batch.ports import RunStateStore, Source, SourceDigestsFactory, Staging, TargetSessionFactory


@dataclass
class Services:
    """Built by the caller (the wiring for the handler and CLI, or a test)."""

    source: Source
    snowflake: TargetSessionFactory
    staging: Staging
    state: RunStateStore
    database: str
    schema: str
    masking_key: Callable[[], bytes] | None = None
    # TRANSFORM_HOOKS: dotted path -> whether the hook may drop rows. No other hook runs.
    transform_hooks: Mapping[str, bool] = field(default_factory=dict)
    # verify: the digests of a snapshot of `source` (None: this caller cannot verify)
    digests: SourceDigestsFactory | None = None
