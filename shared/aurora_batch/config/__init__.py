"""The one typed configuration model, in three parts.

`settings`: the environment, parsed once per cold start (the only reader of os.environ).
`tables`: per-table options and masking, and TABLES. `events`: how an invocation event
combines with them. Every validation failure becomes a ConfigError that names the field and
the value received, raised before any connection is opened.
"""

from __future__ import annotations

from aurora_batch.config.events import (
    CONFIGURATION_ONLY,
    EVENT_SELECTIONS,
    ReplicationEvent,
    parse_event,
    replication_event,
    tables_for_event,
)
from aurora_batch.config.settings import (
    ENVIRONMENT_VARIABLES,
    OpsSettings,
    Settings,
    TablesReader,
    env_name,
    ops_settings_from_env,
    settings_from_env,
)
from aurora_batch.config.tables import (
    _RULE_OPTIONS,
    ColumnMask,
    MaskRule,
    TableOptions,
    parse_tables,
    parse_watermark_literal,
    table_options,
)

__all__ = [
    "CONFIGURATION_ONLY",
    "ENVIRONMENT_VARIABLES",
    "EVENT_SELECTIONS",
    "_RULE_OPTIONS",
    "ColumnMask",
    "MaskRule",
    "OpsSettings",
    "ReplicationEvent",
    "Settings",
    "TableOptions",
    "TablesReader",
    "env_name",
    "ops_settings_from_env",
    "parse_event",
    "parse_tables",
    "parse_watermark_literal",
    "replication_event",
    "settings_from_env",
    "table_options",
    "tables_for_event",
]
