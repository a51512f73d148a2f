"""The process-wide settings, read from the environment once per cold start.

A field's environment variable is its name upper-cased (`vault_addr` <-> `VAULT_ADDR`); the few
that differ are named in `_ENV_NAME_OVERRIDES`. `_environment` is the only reader of os.environ.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from aurora_batch.config.admin_principals import parse_admin_principals
from aurora_batch.config.hooks import TransformHookRegistration, parse_transform_hooks
from aurora_batch.config.tables import TableOptions, parse_tables, table_options
from aurora_batch.config.validation import as_config_error
from aurora_batch.errors import ConfigError

# https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html : 1,769 MB is one vCPU.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
_STAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}")
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


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
    # Who may set, reset and unlock through the admin function (config.admin_principals).
    admin_principals: tuple[str, ...] = ()

    @field_validator("admin_principals", mode="before")
    @classmethod
    def _admin_principal_patterns(cls, value: Any) -> tuple[str, ...]:
        return parse_admin_principals(value)


class Settings(OpsSettings):
    """Process-wide settings from the environment (the Lambda's or a shell's)."""

    vault_addr: str = Field(min_length=1)
    vault_token: SecretStr | None = None
    vault_role: str | None = None
    vault_auth_mount: str = "aws"
    # The X-Vault-AWS-IAM-Server-ID header binds an IAM login to this Vault: required with
    # VAULT_ROLE unless switched off explicitly (a mount configured without it).
    vault_require_iam_server_id: bool = True
    vault_iam_server_id: str | None = Field(default=None, validate_default=True)
    vault_secret_path_aurora: str = "secret/aurora/connection"  # noqa: S105 - a path, not a secret
    vault_secret_path_snowflake: str = "secret/snowflake/credentials"  # noqa: S105 - a path
    vault_secret_path_masking: str = "secret/aurora-batch/masking"  # noqa: S105 - a path
    vault_cache_ttl_seconds: int = Field(default=300, ge=0)
    # Plain http:// reaches only the local stack's emulator; it sets this itself. (Declared
    # before snowflake_endpoint: its validator reads it.)
    snowflake_allow_insecure_endpoint: bool = False
    snowflake_endpoint: str | None = None
    # STATEMENT_TIMEOUT_IN_SECONDS for the loader's sessions; unset keeps the account's, user's or
    # warehouse's value. Statements are never cancelled by the client.
    snowflake_statement_timeout_seconds: int | None = Field(default=None, ge=0, le=604_800)
    # The weakest TLS the Aurora sessions accept (the Vault secret may only ask for more).
    aurora_sslmode: SslMode = "verify-full"
    staging_bucket: str = Field(min_length=3)
    staging_format: Literal["parquet", "csv"] = "parquet"
    staging_cleanup: bool = True
    part_target_bytes: int = Field(default=128 << 20, ge=5 << 20)
    part_target_rows: int | None = Field(default=None, gt=0)
    snowflake_stage: str = Field(min_length=1)
    lease_seconds: int = Field(default=900, ge=30)
    time_margin_seconds: int = Field(default=120, ge=0)
    extract_batch_bytes: int = Field(default=8 << 20, ge=1 << 20, le=1 << 30)
    # Parallel COPY streams of one extract, each a block range of the table in the same snapshot;
    # unset: the function's vCPUs (see `streams`).
    extract_streams: int | None = Field(default=None, ge=1, le=32)
    # A table smaller than this per stream is read by fewer streams (one below twice this size).
    extract_slice_min_bytes: int = Field(default=64 << 20, ge=0)
    # Slices of a run planned for the state machine's Map (each read by its own invocation).
    map_slices: int = Field(default=16, ge=1, le=256)
    # Set by Lambda in every function's environment: the memory that fixes the function's vCPUs.
    aws_lambda_function_memory_size: int | None = Field(default=None, ge=128)
    crash_at: Literal["extract", "upload", "copy", "commit", "cleanup"] | None = Field(
        default=None, description="failure injection for the convergence tests only"
    )
    default_options: dict[str, Any] = Field(default_factory=dict)
    tables: tuple[TableOptions, ...] = ()
    transform_hooks: tuple[TransformHookRegistration, ...] = Field(
        default=(), description="the only hooks a table's transform may name (config.hooks)"
    )
    # Where TABLES is read from: the variable itself, an SSM parameter or an S3 object (its URI).
    tables_source: Literal["env", "ssm", "s3"] = "env"
    tables_parameter: str | None = Field(default=None, min_length=1, max_length=2048)
    # Tables an event may name beyond the configured ones: fnmatch patterns on "schema.table".
    allowed_tables: tuple[str, ...] = ()

    @field_validator("allowed_tables", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(pattern.strip() for pattern in value.split(",") if pattern.strip())
        return value

    @field_validator("transform_hooks", mode="before")
    @classmethod
    def _hook_registry(cls, value: Any) -> Any:
        return parse_transform_hooks(value)

    @model_validator(mode="after")
    def _registered_transforms(self) -> Settings:
        registered = {hook.path for hook in self.transform_hooks}
        for options in self.tables:
            if options.transform is not None and options.transform not in registered:
                raise ConfigError(
                    f"{TABLES_VARIABLE}: {options.ref.qualified}: transform hook {options.transform!r} is not "
                    "registered in TRANSFORM_HOOKS",
                    field="transform",
                    table=options.ref.qualified,
                    hook=options.transform,
                )
        return self

    @field_validator("vault_iam_server_id")
    @classmethod
    def _server_id_with_role(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("vault_role") and not value and info.data.get("vault_require_iam_server_id", True):
            raise ValueError(
                "VAULT_ROLE needs VAULT_IAM_SERVER_ID (the header the aws auth mount checks); "
                "set VAULT_REQUIRE_IAM_SERVER_ID=false only for a mount configured without one"
            )
        return value

    @field_validator("snowflake_endpoint")
    @classmethod
    def _endpoint_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        insecure = value is not None and value.strip().lower().startswith("http://")
        if insecure and not info.data.get("snowflake_allow_insecure_endpoint"):
            raise ValueError(
                "an http:// endpoint sends credentials in clear text: use https:// "
                "(SNOWFLAKE_ALLOW_INSECURE_ENDPOINT=true is for the local stack only)"
            )
        return value

    @field_validator("snowflake_stage")
    @classmethod
    def _stage_identifier(cls, value: str) -> str:
        if not _STAGE_NAME.fullmatch(value):
            raise ValueError("must be a stage name such as DB.SCHEMA.STAGE (letters, digits, _ and $)")
        return value

    @property
    def streams(self) -> int:
        """EXTRACT_STREAMS, or the function's vCPUs: Lambda gives one vCPU per 1,769 MB of memory, up to
        6 at 10,240 MB; outside Lambda, the machine's CPUs (at most 6 either way)."""
        if self.extract_streams is not None:
            return self.extract_streams
        if self.aws_lambda_function_memory_size is not None:
            return max(1, min(LAMBDA_MAX_VCPUS, -(-self.aws_lambda_function_memory_size // LAMBDA_MB_PER_VCPU)))
        return max(1, min(LAMBDA_MAX_VCPUS, os.cpu_count() or 1))

    @model_validator(mode="after")
    def _auth(self) -> Settings:
        if not self.vault_token and not self.vault_role:
            raise ValueError("set VAULT_TOKEN or VAULT_ROLE for Vault authentication")
        return self


# Fields whose environment variable is not their name upper-cased.
_ENV_NAME_OVERRIDES = {
    "crash_at": "AURORA_BATCH_CRASH_AT",
    "mode": "REPLICATION_MODE",
}
# Settings fields built from the table variables, not read from one variable each.
_FROM_TABLE_VARIABLES = frozenset({"default_options", "tables"})
# The table options whose variable sets a default for every table.
_TABLE_DEFAULT_FIELDS = ("schema_name", "table_name", "mode", "incremental_column", "batch_size", "lookback_seconds")
TABLES_VARIABLE = "TABLES"


def env_name(field: str) -> str:
    """The environment variable that sets a field."""
    return _ENV_NAME_OVERRIDES.get(field, field.upper())


def _env_fields(model: type[BaseModel]) -> dict[str, str]:
    """Environment variable -> field, for every field of `model` read from a variable of its own."""
    return {env_name(name): name for name in model.model_fields if name not in _FROM_TABLE_VARIABLES}


_TABLE_DEFAULT_VARIABLES = {env_name(field): field for field in _TABLE_DEFAULT_FIELDS}
ENVIRONMENT_VARIABLES = (*_env_fields(Settings), *_TABLE_DEFAULT_VARIABLES, TABLES_VARIABLE)


def _environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (received {raw!r})", field=name)


def _env_values(env: Mapping[str, str], model: type[BaseModel]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in _env_fields(model).items():
        if name in env and env[name] != "":
            values[field] = _bool(name, env[name]) if model.model_fields[field].annotation is bool else env[name]
    if "aws_region" not in values and env.get("AWS_DEFAULT_REGION"):
        values["aws_region"] = env["AWS_DEFAULT_REGION"]
    return values


# (source, location) -> the TABLES JSON document stored there.
TablesReader = Callable[[str, str], str]


def _tables_document(env: Mapping[str, str], read_tables: TablesReader | None) -> str | None:
    source = env.get("TABLES_SOURCE", "env").strip().lower() or "env"
    if source == "env":
        return env.get(TABLES_VARIABLE) or None
    if source not in ("ssm", "s3"):
        return None  # Settings rejects it, naming tables_source
    if env.get(TABLES_VARIABLE):
        raise ConfigError(
            f"TABLES is set but TABLES_SOURCE={source}: keep the table list in one place", field="TABLES_SOURCE"
        )
    location = env.get("TABLES_PARAMETER", "")
    if not location:
        raise ConfigError(f"TABLES_SOURCE={source} needs TABLES_PARAMETER", field="TABLES_PARAMETER")
    if read_tables is None:
        raise ConfigError(f"TABLES_SOURCE={source} is read only by the wiring's settings loader", field="TABLES_SOURCE")
    return read_tables(source, location)


def ops_settings_from_env(environ: Mapping[str, str] | None = None) -> OpsSettings:
    """The cleanup and admin functions' settings; variables they do not use are ignored."""
    try:
        return OpsSettings(**_env_values(_environment(environ), OpsSettings))
    except PydanticValidationError as exc:
        raise as_config_error(exc, "environment") from exc


def settings_from_env(environ: Mapping[str, str] | None = None, *, read_tables: TablesReader | None = None) -> Settings:
    """Parse the environment once. Called at cold start and by the CLI.

    With TABLES_SOURCE=ssm or s3, `read_tables` (the wiring's adapter) returns the TABLES
    document stored at TABLES_PARAMETER; it is read here, once."""
    env = _environment(environ)
    values = _env_values(env, Settings)
    defaults = {field: env[name] for name, field in _TABLE_DEFAULT_VARIABLES.items() if env.get(name)}
    values["default_options"] = defaults
    tables_document = _tables_document(env, read_tables)
    if tables_document:
        entries = parse_tables(tables_document, TABLES_VARIABLE)
        values["tables"] = tuple(table_options({**defaults, **entry}, TABLES_VARIABLE) for entry in entries)
    try:
        return Settings(**values)
    except PydanticValidationError as exc:
        raise as_config_error(exc, "environment") from None
