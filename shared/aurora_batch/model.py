"""Plain data types shared by every step. No third-party imports: the cleanup and admin
functions import this module too, and must not pull in pyarrow or the Snowflake connector."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_PLAIN_PG_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*")
_UNQUOTED_SF_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


class Mode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    LOCKED = "locked"
    CONTINUED = "continued"
    FAILED = "failed"


def quote_pg(identifier: str) -> str:
    """Quote a PostgreSQL identifier so that no name can inject SQL."""
    if "\x00" in identifier:
        raise ValueError("identifier contains NUL")
    return '"' + identifier.replace('"', '""') + '"'


def quote_sf(identifier: str) -> str:
    """Quote a Snowflake identifier exactly as given (case preserved)."""
    return '"' + identifier.replace('"', '""') + '"'


def snowflake_name(pg_identifier: str) -> str:
    """The naming rule: a plain lowercase PostgreSQL identifier lands upper-cased (as Snowflake
    folds unquoted names); any other identifier keeps PostgreSQL's exact spelling."""
    if _PLAIN_PG_IDENTIFIER.fullmatch(pg_identifier):
        return pg_identifier.upper()
    return pg_identifier


def snowflake_object_name(configured: str) -> str:
    """A database or schema name from the Snowflake secret, resolved as Snowflake resolves it at
    login: a plain name (letters, digits, _ and $) is upper-cased, a "quoted" one keeps its exact
    spelling, and any other spelling (one that needs quotes) is kept as it is."""
    text = configured.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].replace('""', '"')
    if _UNQUOTED_SF_IDENTIFIER.fullmatch(text):
        return text.upper()
    return text


def _key_part(name: str) -> str:
    """A name as written in `TableRef.qualified`: bare, or quoted when it holds a dot or a quote."""
    return '"' + name.replace('"', '""') + '"' if ("." in name or '"' in name) else name


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The name quoted at text[start] (`""` is a quote) and the index after its closing quote."""
    name: list[str] = []
    index = start + 1
    while index < len(text):
        if text[index] == '"':
            if text[index + 1 : index + 2] != '"':
                return "".join(name), index + 1
            index += 1
        name.append(text[index])
        index += 1
    raise ValueError(f"unterminated quote in table name {text!r}")


@dataclass(frozen=True)
class TableRef:
    """A source table, by PostgreSQL schema and name, exactly as PostgreSQL spells them."""

    schema: str
    table: str

    @classmethod
    def parse(cls, qualified: str) -> TableRef:
        """Parse `schema.table` (or `table`, meaning `public.table`). A part in double quotes may hold
        dots (`"a.b".c`, `a."b.c"`, `""` for a quote); unquoted, the first dot ends the schema."""
        parts: list[str] = []
        index = 0
        while True:
            if qualified.startswith('"', index):
                part, index = _read_quoted(qualified, index)
            else:
                dot = qualified.find(".", index)
                end = len(qualified) if parts or dot < 0 else dot  # a bare table keeps its dots (legacy)
                part, index = qualified[index:end], end
            parts.append(part)
            if index == len(qualified):
                break
            if qualified[index] != "." or len(parts) == 2:
                raise ValueError(f"table must be written as schema.table, got {qualified!r}")
            index += 1
        schema, table = parts if len(parts) == 2 else ("public", parts[0])
        if not schema or not table:
            raise ValueError(f"table must be written as schema.table, got {qualified!r}")
        return cls(schema=schema, table=table)

    @property
    def qualified(self) -> str:
        """`schema.table`, each part quoted when it holds a dot or a quote, so that no two tables
        share it: the state key, the lease, the history and the staging prefix all use it."""
        return f"{_key_part(self.schema)}.{_key_part(self.table)}"

    @property
    def legacy_key(self) -> str:
        """`schema.table` joined as written before names were quoted (ambiguous with dots)."""
        return f"{self.schema}.{self.table}"

    @property
    def pg_sql(self) -> str:
        return f"{quote_pg(self.schema)}.{quote_pg(self.table)}"

    def __str__(self) -> str:
        return self.qualified


@dataclass(frozen=True)
class SourceColumn:
    """One column as the PostgreSQL catalog describes it."""

    name: str
    pg_type: str  # format_type(atttypid, atttypmod), e.g. "numeric(12,2)", "character varying(40)"
    type_name: str  # base type name (typname of the base type for domains), e.g. "numeric", "_int4"
    type_category: str  # pg_type.typcategory of the base type: 'A' array, 'E' enum, 'R' range, ...
    nullable: bool
    ordinal: int
    numeric_precision: int | None = None
    numeric_scale: int | None = None
    char_length: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class SourceTable:
    ref: TableRef
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...]
    comment: str | None = None

    def column(self, name: str) -> SourceColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True)
class TargetColumn:
    """One column of the Snowflake target table."""

    name: str  # exact Snowflake name (quote with quote_sf)
    source_name: str  # PostgreSQL column it comes from
    sql_type: str  # Snowflake type, e.g. "NUMBER(12,2)", "VARIANT"
    staged_type: str  # type in the transient staging table, e.g. "VARCHAR" for VARIANT columns
    load_expression: str  # how a staged value becomes a target value; "{col}" is the quoted staged column
    nullable: bool = True
    comment: str | None = None


@dataclass(frozen=True)
class TargetTable:
    database: str
    schema: str
    name: str
    columns: tuple[TargetColumn, ...]
    primary_key: tuple[str, ...]  # target column names
    comment: str | None = None

    @property
    def sql(self) -> str:
        return f"{quote_sf(self.database)}.{quote_sf(self.schema)}.{quote_sf(self.name)}"

    def sibling(self, name: str) -> str:
        """A fully qualified name for another table in the same schema."""
        return f"{quote_sf(self.database)}.{quote_sf(self.schema)}.{quote_sf(name)}"


def staged_key(staging_prefix: str, path: str) -> str:
    """The object key of `path`, a path relative to STAGING_PREFIX (where the stage URL points)."""
    prefix = staging_prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


@dataclass(frozen=True)
class StagedPart:
    """One staged file: where it is and what it holds, recorded so the load can check it."""

    index: int
    key: str  # full S3 object key
    stage_path: str  # path relative to the external stage's URL, as used in COPY FILES=(...)
    rows: int
    bytes: int
