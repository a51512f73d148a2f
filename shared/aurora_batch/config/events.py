"""The event contract: an invocation event selects, configuration decides.

An event may name tables (those configuration lists, or those ALLOWED_TABLES patterns match) and
choose `mode`, `incremental_column`, `full_refresh`, `last_value` (a backfill only) and `dry_run`.
Every other table option comes from configuration only (the environment's defaults, then TABLES);
an event that carries one, or an unknown key, is refused before any connection, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from aurora_batch.config.settings import Settings
from aurora_batch.config.tables import TableOptions, table_options
from aurora_batch.config.validation import as_config_error
from aurora_batch.errors import ConfigError
from aurora_batch.model import Mode, TableRef

_Model = TypeVar("_Model", bound=BaseModel)

MAX_EVENT_TABLES = 200
MAX_NAME_LENGTH = 255  # above PostgreSQL's 63 bytes; bounds what an event can make us echo
MAX_VALUE_LENGTH = 64
# The table options an event may choose; every other one is configuration only.
EVENT_SELECTIONS = ("mode", "incremental_column", "full_refresh", "last_value")
CONFIGURATION_ONLY = frozenset(TableOptions.model_fields) - {"schema_name", "table_name", *EVENT_SELECTIONS}


class TableName(BaseModel):
    """One entry of an event's `tables`: a name, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    table_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)


class ReplicationEvent(BaseModel):
    """Everything an invocation event may say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    table_name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    tables: tuple[TableName, ...] | None = Field(default=None, min_length=1, max_length=MAX_EVENT_TABLES)
    mode: Mode | None = None
    incremental_column: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    full_refresh: bool | None = None
    last_value: str | None = Field(default=None, min_length=1, max_length=MAX_VALUE_LENGTH)
    dry_run: bool = False
    # Invocation keys: set by this function's own fan-out and continuation events.
    continuation: bool = False
    run_id: str | None = Field(default=None, max_length=MAX_VALUE_LENGTH)
    time_budget_seconds: float | None = Field(default=None, gt=0, le=900)

    def selections(self) -> dict[str, Any]:
        """The table options the event chose (only those it set)."""
        return {key: getattr(self, key) for key in EVENT_SELECTIONS if getattr(self, key) is not None}


def parse_event(model: type[_Model], event: Mapping[str, Any], source: str = "event") -> _Model:
    """Validate an invocation event; a bad one raises ConfigError naming the field and the value."""
    try:
        return model.model_validate(dict(event))
    except PydanticValidationError as exc:
        raise as_config_error(exc, source) from exc


def replication_event(event: Mapping[str, Any]) -> ReplicationEvent:
    """The event checked against the contract: a configuration-only option or an unknown key is
    refused naming it, before anything else is read."""
    _refuse_configuration_keys(event, "event")
    entries = event.get("tables")
    if isinstance(entries, list | tuple):
        if len(entries) > MAX_EVENT_TABLES:
            raise ConfigError(f"event.tables names {len(entries)} tables; at most {MAX_EVENT_TABLES}", field="tables")
        normalized = []
        for index, entry in enumerate(entries):
            if isinstance(entry, Mapping):
                _refuse_configuration_keys(entry, f"event.tables[{index}]")
                normalized.append(entry)
            elif isinstance(entry, str):
                normalized.append(_name_entry(entry, index))
            else:
                normalized.append(entry)  # the model names it
        event = {**event, "tables": normalized}
    return parse_event(ReplicationEvent, event)


def _refuse_configuration_keys(event: Mapping[str, Any], source: str) -> None:
    for key in event:
        if key in CONFIGURATION_ONLY:
            raise ConfigError(
                f"{source}: {key!r} is configuration only (set it in TABLES); an event may name tables and "
                f"choose {', '.join(EVENT_SELECTIONS)} and dry_run",
                field=key,
                source=source,
            )


def _name_entry(qualified: str, index: int) -> dict[str, str]:
    if len(qualified) > 2 * MAX_NAME_LENGTH + 1:
        raise ConfigError(f"event.tables[{index}] is longer than a table name can be", field="tables")
    try:
        ref = TableRef.parse(qualified)
    except ValueError as exc:
        raise ConfigError(f"event.tables[{index}]: {exc}", field="tables") from exc
    return {"schema_name": ref.schema, "table_name": ref.table}


def tables_for_event(settings: Settings, event: Mapping[str, Any] | ReplicationEvent) -> list[TableOptions]:
    """The tables an invocation covers: each with its configured options and the event's selections."""
    parsed = event if isinstance(event, ReplicationEvent) else replication_event(event)
    selections = parsed.selections()
    default_schema = parsed.schema_name or settings.default_options.get("schema_name") or "public"
    if parsed.tables:
        names = [TableRef(entry.schema_name or default_schema, entry.table_name) for entry in parsed.tables]
    elif parsed.table_name:
        names = [TableRef(default_schema, parsed.table_name)]
    elif settings.tables:
        return [_with_selections(table.model_dump(exclude_unset=True), selections) for table in settings.tables]
    elif settings.default_options.get("table_name"):
        names = [TableRef(default_schema, settings.default_options["table_name"])]
    else:
        raise ConfigError(
            "no table to replicate: pass table_name (or tables) in the event, or set TABLE_NAME or TABLES",
            field="table_name",
        )
    return [_with_selections(_configured(settings, ref), selections) for ref in names]


def _with_selections(configured: Mapping[str, Any], selections: Mapping[str, Any]) -> TableOptions:
    return table_options({**configured, **selections}, "event")


def _configured(settings: Settings, ref: TableRef) -> dict[str, Any]:
    """The configuration of a table an event names: its TABLES entry, or the environment's defaults
    for the TABLE_NAME table or one ALLOWED_TABLES matches. Any other table is refused."""
    for table in settings.tables:
        if table.ref == ref:
            return dict(table.model_dump(exclude_unset=True))
    defaults = settings.default_options
    single = (
        TableRef(defaults.get("schema_name", "public"), defaults["table_name"]) if "table_name" in defaults else None
    )
    if ref == single or any(fnmatchcase(ref.qualified, pattern) for pattern in settings.allowed_tables):
        return {**defaults, "schema_name": ref.schema, "table_name": ref.table}
    raise ConfigError(
        f"event names table {ref.qualified!r}, which configuration does not list: add it to TABLES "
        "or match it with ALLOWED_TABLES",
        field="table_name",
        table=ref.qualified,
    )


# --- the state machine's internal actions (orchestration/definition.py builds their payloads) ---

ORCHESTRATION_ACTIONS = ("plan", "extract_slice", "load", "commit", "release")
MAX_SLICES = 256
MAX_PARTS_PER_SLICE = 10_000
MAX_ERROR_LENGTH = 2_000
MAX_KEY_LENGTH = 1_024  # S3's longest object key


class SliceSpec(BaseModel):
    """One slice of a planned run: a block range of the table (bounds None: open-ended)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0, lt=MAX_SLICES)
    first_block: int | None = Field(default=None, ge=0)
    end_block: int | None = Field(default=None, ge=0)


class SliceManifest(BaseModel):
    """What one extract_slice staged: its parts `[index, key, stage_path, rows, bytes]` and what it
    observed, written as an object under the run's staging path (it grows with the parts and the
    columns, so it never travels in the state machine's state)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slice: int = Field(ge=0, lt=MAX_SLICES)
    parts: tuple[tuple[int, str, str, int, int], ...] = Field(max_length=MAX_PARTS_PER_SLICE)
    observed: dict[str, Any]


class SliceResult(BaseModel):
    """What one extract_slice answers through the Map: the key of its manifest and its counts, a
    fixed size whatever the parts and columns (a state holds at most 256 KiB). A claim only: the
    load reads a manifest only at the key the run gives that slice, and checks the parts it lists
    against the run's plan and the staged objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slice: int = Field(ge=0, lt=MAX_SLICES)
    manifest: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    parts: int = Field(strict=True, ge=0, le=MAX_PARTS_PER_SLICE)
    rows: int = Field(strict=True, ge=0)


class FailureCause(BaseModel):
    """A Catch's error output: what failed, recorded with the failed run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    Error: str = Field(default="", max_length=MAX_NAME_LENGTH)
    Cause: str = Field(default="", max_length=256 * 1024)


# action -> the keys it carries besides `action` and `table` (each required).
_ACTION_KEYS: dict[str, frozenset[str]] = {
    "plan": frozenset(),
    "extract_slice": frozenset({"run_id", "run_prefix", "slice"}),
    "load": frozenset({"run_id", "run_prefix", "slices"}),
    "commit": frozenset({"run_id"}),
    "release": frozenset({"run_id", "error"}),
}


class OrchestrationEvent(BaseModel):
    """An action of the state machine on one table's run. It names the table and the run; the plan,
    the bounds and every option stay in configuration and in the run's state under its lease."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["plan", "extract_slice", "load", "commit", "release"]
    table: TableName
    run_id: str | None = Field(default=None, min_length=1, max_length=MAX_VALUE_LENGTH)
    run_prefix: str | None = Field(default=None, min_length=1, max_length=2 * MAX_NAME_LENGTH + MAX_VALUE_LENGTH + 2)
    slice: SliceSpec | None = None
    slices: tuple[SliceResult, ...] | None = Field(default=None, max_length=MAX_SLICES)
    error: FailureCause | None = None

    @model_validator(mode="after")
    def _keys_of_action(self) -> OrchestrationEvent:
        wanted = _ACTION_KEYS[self.action]
        for key in ("run_id", "run_prefix", "slice", "slices", "error"):
            present = getattr(self, key) is not None
            if present != (key in wanted):
                raise ValueError(f"action {self.action!r} {'needs' if key in wanted else 'takes no'} {key!r}")
        return self

    @property
    def ref(self) -> TableRef:
        return TableRef(self.table.schema_name or "public", self.table.table_name)


def orchestration_event(event: Mapping[str, Any]) -> OrchestrationEvent:
    """An internal action checked against its contract; anything else is refused naming the key."""
    _refuse_configuration_keys(event, "event")
    table = event.get("table")
    if isinstance(table, str):
        event = {**event, "table": _name_entry(table, 0)}
    return parse_event(OrchestrationEvent, event)


def orchestration_table(settings: Settings, parsed: OrchestrationEvent) -> TableOptions:
    """The configured options of the action's table (a table configuration does not list is refused)."""
    return table_options(_configured(settings, parsed.ref), "configuration")
