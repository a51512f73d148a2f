"""Every statement the loader emits, for one sample table that uses each kind of column: parsed
with sqlglot by the unit tests, and run against a real Snowflake account by tests/live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aurora_batch.logic import load as sql
from aurora_batch.model import TargetColumn, TargetTable

SPECS = (
    sql.AggregateSpec("min(ID)", "min", "ID", "NUMBER(38,0)"),
    sql.AggregateSpec("sum(MixedCase)", "sum", "MixedCase", "NUMBER(38,2)"),
)


def sample_target(database: str = "ANALYTICS", schema: str = "PUBLIC") -> TargetTable:
    return TargetTable(
        database=database,
        schema=schema,
        name="ORDERS",
        columns=(
            TargetColumn("ID", "id", "NUMBER(19,0)", "NUMBER(19,0)", "{col}", nullable=False, comment="the key"),
            TargetColumn("NOTE", "note", "VARCHAR(40)", "VARCHAR(40)", "{col}", comment="it's quoted"),
            TargetColumn("DOC", "doc", "VARIANT", "VARCHAR", "PARSE_JSON({col})"),
            TargetColumn("TAGS", "tags", "ARRAY", "VARCHAR", "PARSE_JSON({col})"),
            TargetColumn("RAW", "raw", "BINARY", "VARCHAR", "TO_BINARY({col}, 'HEX')"),
            TargetColumn("UPDATED_AT", "updated_at", "TIMESTAMP_TZ(6)", "TIMESTAMP_TZ(6)", "{col}"),
            TargetColumn("MixedCase", "MixedCase", "NUMBER(12,2)", "NUMBER(12,2)", "{col}"),
        ),
        primary_key=("ID",),
        comment="Orders; O'Reilly's",
    )


@dataclass(frozen=True)
class LoaderStatements:
    """The loader's statements for `target`, in the order a run issues them."""

    target: TargetTable
    stage: str
    run_id: str = "RUN1"
    # What INFORMATION_SCHEMA reports for an older, narrower target: the evolution widens NOTE
    # and adds every other column.
    existing: tuple[sql.ExistingColumn, ...] = field(
        default=(
            sql.ExistingColumn("ID", "NUMBER", None, 19, 0),
            sql.ExistingColumn("NOTE", "TEXT", 20, None, None),
        )
    )

    @property
    def staging(self) -> str:
        return self.target.sibling(f"{self.target.name}__AB_STG_{self.run_id}")

    @property
    def new_table(self) -> str:
        return self.target.sibling(f"{self.target.name}__AB_NEW_{self.run_id}")

    @property
    def older_target(self) -> TargetTable:
        """The target as `existing` describes it: what the evolution statements start from."""
        by_name = {c.name: c for c in self.target.columns}
        columns = tuple(
            TargetColumn(
                c.name,
                by_name[c.name].source_name,
                f"VARCHAR({c.length})" if c.data_type == "TEXT" else f"NUMBER({c.precision},{c.scale})",
                by_name[c.name].staged_type,
                by_name[c.name].load_expression,
                nullable=by_name[c.name].nullable,
                comment=by_name[c.name].comment,
            )
            for c in self.existing
        )
        return TargetTable(
            self.target.database,
            self.target.schema,
            self.target.name,
            columns,
            self.target.primary_key,
            self.target.comment,
        )

    def evolution(self) -> list[str]:
        return sql.evolution_statements(self.target, self.existing)

    def copy(self, files: Sequence[str], file_format: str) -> str:
        return sql.copy_into_sql(self.staging, self.stage, files, file_format)

    def merges(self) -> list[str]:
        return [
            sql.merge_sql(self.target, self.staging, ["ID"], "UPDATED_AT"),
            sql.merge_sql(self.target, self.staging, ["ID", "NOTE"], None),
        ]

    def every_statement(self) -> list[str]:
        return [
            sql.create_table_sql(self.target),
            sql.comment_table_sql(self.target),
            sql.create_staging_sql(self.target, self.staging),
            sql.drop_table_sql(self.staging),
            sql.describe_columns_sql(self.target),
            sql.table_exists_sql(self.target),
            *self.evolution(),
            self.copy(["public.orders/r1/part-00000.parquet"], "parquet"),
            self.copy(["a/b/part-00000.csv.gz", "a/b/it's.csv.gz"], "csv"),
            *self.merges(),
            sql.create_like_sql(self.target, self.new_table),
            sql.insert_from_staging_sql(self.target, self.new_table, self.staging),
            sql.swap_sql(self.target, self.new_table),
            sql.aggregates_sql(self.new_table, SPECS),
        ]
