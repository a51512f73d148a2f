"""Validation: cheap per-column aggregates compared between the source stream and Snowflake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aurora_batch.errors import ValidationError
from aurora_batch.model import quote_sf


@dataclass(frozen=True)
class AggregateSpec:
    """A cheap per-column aggregate compared between the source stream and Snowflake."""

    label: str  # e.g. "sum(AMOUNT)"
    function: str  # "sum" | "min" | "max"
    column: str  # target column name
    cast: str  # exact Snowflake type to read the result as


def aggregates_sql(table: str, specs: Sequence[AggregateSpec]) -> str:
    parts = ["COUNT(*)"] + [f"{s.function.upper()}({quote_sf(s.column)})::{s.cast}" for s in specs]
    # SQL from quote_sf identifiers, escaped literals (bandit B608)
    return f"SELECT {', '.join(parts)} FROM {table}"  # noqa: S608  # nosec B608


def compare_aggregates(
    expected: dict[str, Any],
    observed_row: Sequence[Any],
    specs: Sequence[AggregateSpec],
    *,
    where: str,
    table: str,
    run_id: str,
) -> dict[str, Any]:
    observed: dict[str, Any] = {"count": Decimal(int(observed_row[0]))}
    for spec, value in zip(specs, observed_row[1:], strict=True):
        observed[spec.label] = None if value is None else Decimal(str(value))
    for label, want in expected.items():
        have = observed.get(label)
        want_d = None if want is None else Decimal(str(want))
        if have != want_d:
            raise ValidationError(
                f"{where}: {label} is {have} in Snowflake but {want} in the source snapshot",
                table=table,
                run_id=run_id,
                check=label,
                expected=str(want),
                observed=str(have),
            )
    return observed
