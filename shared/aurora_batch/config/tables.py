"""Per-table options and column masking, and the TABLES list or map they are read from."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from aurora_batch.config.validation import as_config_error
from aurora_batch.config.where import render_where
from aurora_batch.errors import ConfigError
from aurora_batch.model import Mode, TableRef, snowflake_name

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
    where: str | None = Field(
        default=None, description="one boolean expression added to the extract, kept as rendered by config.where"
    )
    on_incompatible_change: Literal["fail", "versioned_column"] = Field(
        default="fail", description="what an incompatible source type change does to the target"
    )
    transform: str | None = Field(default=None, description="dotted path of a hook TRANSFORM_HOOKS registers")
    full_refresh_strategy: Literal["overwrite", "swap"] = Field(
        default="overwrite", description="how a full refresh replaces the target's rows: INSERT OVERWRITE or SWAP WITH"
    )
    row_digest: bool = Field(
        default=False, description="stage _AB_KEY_HASH and _AB_ROW_HASH with every row, which verify compares"
    )
    # soft by default: a repair never destroys a target row on its own judgement, and the mark is undone
    # when the key comes back; hard is one option away for tables whose readers cannot filter.
    delete_mode: Literal["soft", "hard", "off"] = Field(
        default="soft", description="what a verify repair does to a row deleted in the source"
    )
    verify_schedule: str | None = Field(
        default=None, pattern=r"^(rate|cron)\(.+\)$", description="EventBridge schedule of the table's verify"
    )
    verify_repair: bool = Field(default=True, description="whether a scheduled or drift-triggered verify repairs")
    verify_on_drift: bool = Field(
        default=False, description="an incremental run whose key counts differ starts a verify of the table"
    )

    @field_validator("last_value")
    @classmethod
    def _last_value_readable(cls, value: str | None) -> str | None:
        if value is not None:
            parse_watermark_literal(value)
        return value

    @field_validator("where")
    @classmethod
    def _one_boolean_expression(cls, value: str | None) -> str | None:
        # Stored as rendered from its parse tree and parenthesised: no other text ever reaches SQL.
        return render_where(value) if value is not None else None

    @field_validator("transform")
    @classmethod
    def _dotted_path(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][\w.]*[.:][A-Za-z_]\w*", value):
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
        if self.verify_on_drift and not self.row_digest:
            raise ValueError("verify_on_drift needs row_digest: true (verify compares row digests)")
        if self.verify_on_drift and (self.delete_mode == "off" or not self.verify_repair):
            # The counts would stay different after the verify, and every run would start another.
            raise ValueError(
                "verify_on_drift needs a repairing verify: verify_repair true and delete_mode soft or hard"
            )
        return self

    @property
    def ref(self) -> TableRef:
        return TableRef(self.schema_name, self.table_name)


def table_options(values: dict[str, Any], source: str) -> TableOptions:
    """Validated options of one table; `source` (TABLES, event) is named in the ConfigError."""
    try:
        return TableOptions(**values)
    except PydanticValidationError as exc:
        error = as_config_error(exc, source)
        table_name = values.get("table_name")
        if not isinstance(table_name, str):
            raise error from None
        # Name the table too: one TABLES entry among many is at fault.
        table = TableRef(str(values.get("schema_name") or "public"), table_name).qualified
        raise ConfigError(
            error.message.replace(f"{source}: ", f"{source}: {table}: ", 1), table=table, **error.fields
        ) from None


def parse_tables(raw: str | list[Any] | dict[str, Any], source: str) -> list[dict[str, Any]]:
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
