"""The one typed configuration model.

Built from the environment (parsed once per cold start), then the invocation event, then
the per-table settings in TABLES, each overriding the one before. This is the only module
that reads os.environ. Every validation failure becomes a ConfigError that names the field
and the value received, raised before any connection is opened.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from aurora_batch.errors import ConfigError
from aurora_batch.model import Mode, TableRef, snowflake_name

_STAGE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_Model = TypeVar("_Model", bound=BaseModel)

MaskRule = Literal["hash", "null", "mask", "truncate_date", "redact_json_keys"]


class ColumnMask(BaseModel):
    """How one column is masked before anything is staged (see docs/CUSTOMIZATION.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: MaskRule
    keep_last: int | None = Field(default=None, ge=0, description="mask: characters kept at the end")
    truncate_to: Literal["month", "year"] | None = None
    keys: tuple[str, ...] | None = Field(default=None, description="redact_json_keys: keys removed")

    @model_validator(mode="after")
    def _rule_options(self) -> ColumnMask:
        if self.rule == "mask" and self.keep_last is None:
            raise ValueError("rule 'mask' needs keep_last")
        if self.rule == "truncate_date" and self.truncate_to is None:
            raise ValueError("rule 'truncate_date' needs truncate_to ('month' or 'year')")
        if self.rule == "redact_json_keys" and not self.keys:
            raise ValueError("rule 'redact_json_keys' needs keys")
        given = {name for name in type(self).model_fields if name != "rule" and getattr(self, name) is not None}
        unused = sorted(given - _RULE_OPTIONS[self.rule])
        if unused:
            raise ValueError(f"rule {self.rule!r} takes no option {', '.join(unused)}")
        return self


# The options each masking rule reads; any other option given is a mistake and is rejected.
_RULE_OPTIONS: dict[str, set[str]] = {
    "hash": set(),
    "null": set(),
    "mask": {"keep_last"},
    "truncate_date": {"truncate_to"},
    "redact_json_keys": {"keys"},
}


class TableOptions(BaseModel):
    """Per-table options. Any of them may come from the env defaults, TABLES or the event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_name: str = Field(default="public", min_length=1)
    table_name: str = Field(min_length=1)
    mode: Mode = Mode.FULL
    incremental_column: str | None = None
    lookback_seconds: int = Field(default=300, ge=0, description="overlap re-read behind a time watermark")
    lookback_integer: int = Field(default=0, ge=0, description="overlap re-read behind an integer watermark")
    merge_keys: tuple[str, ...] | None = None
    batch_size: int = Field(default=10_000, gt=0, le=10_000_000)
    last_value: str | None = None
    full_refresh: bool = False
    include_columns: tuple[str, ...] | None = None
    exclude_columns: tuple[str, ...] | None = None
    rename_columns: dict[str, str] | None = None
    target_table: str | None = None
    target_schema: str | None = None
    masking: dict[str, ColumnMask] | None = None
    where: str | None = Field(default=None, description="trusted SQL predicate added to the extract")
    on_incompatible_change: Literal["fail", "versioned_column"] = Field(
        default="fail", description="what an incompatible source type change does to the target"
    )
    transform: str | None = Field(default=None, description="dotted path of a streaming batch hook")

    @field_validator("last_value")
    @classmethod
    def _last_value_readable(cls, value: str | None) -> str | None:
        if value is not None:
            parse_watermark_literal(value)
        return value

    @field_validator("transform")
    @classmethod
    def _dotted_path(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][\w.]*[.:][A-Za-z_]\w*$", value):
            raise ValueError("must be a dotted path such as 'package.module.function'")
        return value

    @field_validator("include_columns")
    @classmethod
    def _include_something(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("must name at least one column (leave it out to replicate every column)")
        return value

    @field_validator("exclude_columns")
    @classmethod
    def _not_with_include(cls, value: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...] | None:
        # A field validator (not the model one) so the error names the field.
        if value and info.data.get("include_columns"):
            raise ValueError("include_columns and exclude_columns cannot both be set")
        return value

    @field_validator("rename_columns")
    @classmethod
    def _rename_targets(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for source, target in (value or {}).items():
            if not target.strip():
                raise ValueError(f"column {source!r} cannot be renamed to an empty name")
        return value

    @field_validator("target_table", "target_schema")
    @classmethod
    def _snowflake_naming(cls, value: str | None) -> str | None:
        # The same rule as column names: a plain lowercase name lands upper-cased, as Snowflake folds it.
        if value is not None and not value.strip():
            raise ValueError("cannot be empty")
        return snowflake_name(value) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> TableOptions:
        if self.mode is Mode.INCREMENTAL and not self.incremental_column:
            raise ValueError("incremental mode needs incremental_column")
        return self

    @property
    def ref(self) -> TableRef:
        return TableRef(self.schema_name, self.table_name)


def parse_watermark_literal(value: str) -> int | date | datetime:
    """Read a watermark given by a person: an integer, an ISO date or an ISO timestamp."""
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"cannot be read as an integer, a date or a timestamp: {value!r}") from exc


class OpsSettings(BaseModel):
    """The settings of the cleanup and admin functions: S3 staging and the state table only.

    Settings extends it, so the three functions read one set of variables the same way; these
    two just never require Vault or Snowflake (their Lambdas are not given them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    staging_bucket: str | None = Field(default=None, min_length=3)  # the admin function has none
    staging_prefix: str = "aurora-batch"
    state_table: str = Field(min_length=3)
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    log_level: str = "INFO"


class Settings(OpsSettings):
    """Process-wide settings from the environment (the Lambda's or a shell's)."""

    vault_addr: str = Field(min_length=1)
    vault_token: SecretStr | None = None
    vault_role: str | None = None
    vault_auth_mount: str = "aws"
    vault_iam_server_id: str | None = None
    vault_secret_path_aurora: str = "secret/aurora/connection"  # noqa: S105 - a path, not a secret
    vault_secret_path_snowflake: str = "secret/snowflake/credentials"  # noqa: S105 - a path
    vault_secret_path_masking: str = "secret/aurora-batch/masking"  # noqa: S105 - a path
    vault_cache_ttl_seconds: int = Field(default=300, ge=0)
    snowflake_endpoint: str | None = None
    staging_bucket: str = Field(min_length=3)
    staging_format: Literal["parquet", "csv"] = "parquet"
    staging_cleanup: bool = True
    part_target_bytes: int = Field(default=128 << 20, ge=5 << 20)
    part_target_rows: int | None = Field(default=None, gt=0)
    snowflake_stage: str = Field(min_length=1)
    lease_seconds: int = Field(default=900, ge=30)
    time_margin_seconds: int = Field(default=120, ge=0)
    extract_batch_bytes: int = Field(default=8 << 20, ge=1 << 20, le=1 << 30)
    crash_at: Literal["extract", "upload", "copy", "commit", "cleanup"] | None = Field(
        default=None, description="failure injection for the convergence tests only"
    )
    default_options: dict[str, Any] = Field(default_factory=dict)
    tables: tuple[TableOptions, ...] = ()

    @field_validator("snowflake_stage")
    @classmethod
    def _stage_identifier(cls, value: str) -> str:
        if not _STAGE_NAME.match(value):
            raise ValueError("must be a stage name such as DB.SCHEMA.STAGE (letters, digits, _ and $)")
        return value

    @model_validator(mode="after")
    def _auth(self) -> Settings:
        if not self.vault_token and not self.vault_role:
            raise ValueError("set VAULT_TOKEN or VAULT_ROLE for Vault authentication")
        return self


# Environment variable -> Settings field. Table defaults are collected separately.
_ENV_FIELDS = {
    "VAULT_ADDR": "vault_addr",
    "VAULT_TOKEN": "vault_token",
    "VAULT_ROLE": "vault_role",
    "VAULT_AUTH_MOUNT": "vault_auth_mount",
    "VAULT_IAM_SERVER_ID": "vault_iam_server_id",
    "VAULT_SECRET_PATH_AURORA": "vault_secret_path_aurora",
    "VAULT_SECRET_PATH_SNOWFLAKE": "vault_secret_path_snowflake",
    "VAULT_SECRET_PATH_MASKING": "vault_secret_path_masking",
    "VAULT_CACHE_TTL_SECONDS": "vault_cache_ttl_seconds",
    "SNOWFLAKE_ENDPOINT": "snowflake_endpoint",
    "STAGING_BUCKET": "staging_bucket",
    "STAGING_PREFIX": "staging_prefix",
    "STAGING_FORMAT": "staging_format",
    "STAGING_CLEANUP": "staging_cleanup",
    "PART_TARGET_BYTES": "part_target_bytes",
    "PART_TARGET_ROWS": "part_target_rows",
    "SNOWFLAKE_STAGE": "snowflake_stage",
    "STATE_TABLE": "state_table",
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_REGION": "aws_region",
    "LEASE_SECONDS": "lease_seconds",
    "TIME_MARGIN_SECONDS": "time_margin_seconds",
    "EXTRACT_BATCH_BYTES": "extract_batch_bytes",
    "LOG_LEVEL": "log_level",
    "AURORA_BATCH_CRASH_AT": "crash_at",
}
_ENV_TABLE_DEFAULTS = {
    "SCHEMA_NAME": "schema_name",
    "TABLE_NAME": "table_name",
    "REPLICATION_MODE": "mode",
    "INCREMENTAL_COLUMN": "incremental_column",
    "BATCH_SIZE": "batch_size",
    "LOOKBACK_SECONDS": "lookback_seconds",
}
ENVIRONMENT_VARIABLES = (*_ENV_FIELDS, *_ENV_TABLE_DEFAULTS, "TABLES")


def _errors_to_config_error(exc: PydanticValidationError, source: str) -> ConfigError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or source
    received = first.get("input")
    shown = "<secret>" if "token" in location or "password" in location else received
    if first["type"] == "extra_forbidden":
        message = f"{source}: unknown setting {location!r}"
    else:
        message = f"{source}: {location}: {first['msg']} (received {shown!r})"
    return ConfigError(message, field=location, source=source)


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (received {raw!r})", field=name)


def _parse_tables(raw: str | list[Any] | dict[str, Any], source: str) -> list[dict[str, Any]]:
    """TABLES is a JSON list of table objects, or a map of "schema.table" -> options."""
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source} is not valid JSON: {exc.msg}", field=source) from exc
    if isinstance(value, dict):
        entries = []
        for qualified, options in value.items():
            if not isinstance(options, dict):
                raise ConfigError(f"{source}.{qualified} must be an object", field=f"{source}.{qualified}")
            ref = TableRef.parse(qualified)
            entries.append({"schema_name": ref.schema, "table_name": ref.table, **options})
        return entries
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return list(value)
    raise ConfigError(f"{source} must be a JSON list of objects or a map of schema.table to options", field=source)


def _env_values(env: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in env and env[name] != "":
            values[field] = _bool(name, env[name]) if field == "staging_cleanup" else env[name]
    if "aws_region" not in values and env.get("AWS_DEFAULT_REGION"):
        values["aws_region"] = env["AWS_DEFAULT_REGION"]
    return values


def ops_settings_from_env(environ: Mapping[str, str] | None = None) -> OpsSettings:
    """The cleanup and admin functions' settings; variables they do not use are ignored."""
    env = os.environ if environ is None else environ
    ops_fields = {name: field for name, field in _ENV_FIELDS.items() if field in OpsSettings.model_fields}
    try:
        return OpsSettings(**_env_values(env, ops_fields))
    except PydanticValidationError as exc:
        raise _errors_to_config_error(exc, "environment") from exc


def parse_event(model: type[_Model], event: Mapping[str, Any], source: str = "event") -> _Model:
    """Validate an invocation event; a bad one raises ConfigError naming the field and the value."""
    try:
        return model.model_validate(dict(event))
    except PydanticValidationError as exc:
        raise _errors_to_config_error(exc, source) from exc


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment once. Called at cold start and by the CLI."""
    env = os.environ if environ is None else environ
    values = _env_values(env, _ENV_FIELDS)
    defaults = {field: env[name] for name, field in _ENV_TABLE_DEFAULTS.items() if env.get(name)}
    values["default_options"] = defaults
    if env.get("TABLES"):
        values["tables"] = tuple(
            _table_options({**defaults, **entry}, "TABLES") for entry in _parse_tables(env["TABLES"], "TABLES")
        )
    try:
        return Settings(**values)
    except PydanticValidationError as exc:
        raise _errors_to_config_error(exc, "environment") from None


def _table_options(values: dict[str, Any], source: str) -> TableOptions:
    try:
        return TableOptions(**values)
    except PydanticValidationError as exc:
        raise _errors_to_config_error(exc, source) from None


# Event keys that are about the invocation, not table options.
_INVOCATION_KEYS = {"tables", "continuation", "run_id", "dry_run", "time_budget_seconds"}


def tables_for_event(settings: Settings, event: Mapping[str, Any]) -> list[TableOptions]:
    """Resolve which tables an invocation covers, with the precedence env < event < table."""
    event_options = {k: v for k, v in event.items() if k not in _INVOCATION_KEYS}
    if "tables" in event:
        entries = _parse_tables(event["tables"], "event.tables")
    elif event_options.get("table_name"):
        entries = [{}]
    elif settings.tables:
        return [
            _table_options(_layered(table.model_dump(exclude_unset=True), event_options), "TABLES")
            for table in settings.tables
        ]
    elif settings.default_options.get("table_name"):
        entries = [{}]
    else:
        raise ConfigError(
            "no table to replicate: pass table_name (or tables) in the event, or set TABLE_NAME or TABLES",
            field="table_name",
        )
    resolved = []
    for entry in entries:
        configured = _configured(settings, entry, event_options)
        layers = _layered(settings.default_options, configured, event_options, entry)
        resolved.append(_table_options(layers, "event"))
    return resolved


def _layered(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Each layer overrides the one before, except `masking`, merged column by column: an event
    that masks one more column (or none) never unmasks a column that TABLES masks."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            earlier = merged.get(key)
            if key == "masking" and isinstance(earlier, Mapping) and (value is None or isinstance(value, Mapping)):
                merged[key] = {**earlier, **(value or {})}
            else:
                merged[key] = value
    return merged


def _configured(settings: Settings, entry: Mapping[str, Any], event_options: Mapping[str, Any]) -> dict[str, Any]:
    """The TABLES settings for the table an event names, if TABLES lists it."""
    schema = (
        entry.get("schema_name")
        or event_options.get("schema_name")
        or settings.default_options.get("schema_name", "public")
    )
    name = entry.get("table_name") or event_options.get("table_name")
    for table in settings.tables:
        if table.schema_name == schema and table.table_name == name:
            return dict(table.model_dump(exclude_unset=True))
    return {}
