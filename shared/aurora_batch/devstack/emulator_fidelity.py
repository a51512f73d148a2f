"""Fidelity patches for fakesnow 0.11.18 where it answers differently from real Snowflake.

Unlike the statement shims (snowflake_shims), these correct fakesnow's own behaviour for
statements it does run. Each patch names what real Snowflake does. They are applied once,
in the emulator process only; production code never sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

PATCHES: list[str] = []


def _register(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def wrap(apply: Callable[[], None]) -> Callable[[], None]:
        PATCHES.append(name)
        return apply

    return wrap


@_register("null_timestamps_in_results")
def keep_null_timestamps_in_results() -> None:
    """Snowflake returns NULL for a NULL TIMESTAMP_*; fakesnow's Arrow result encoding builds the
    (epoch, fraction[, timezone]) struct without a validity mask, so NULL reads back as 1970-01-01."""
    import fakesnow.arrow as fakesnow_arrow  # noqa: PLC0415

    original: Callable[[Any], pa.Array] = fakesnow_arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if ts.null_count == 0:
            return original(ts)
        filled = pc.fill_null(ts, pa.scalar(0, type=ts.type))
        struct = original(filled)
        return pa.StructArray.from_arrays(
            [struct.field(i) for i in range(struct.type.num_fields)],
            fields=list(struct.type),
            mask=pc.is_null(ts),
        )

    fakesnow_arrow.timestamp_to_sf_struct = timestamp_to_sf_struct


@_register("exact_numeric_aggregates")
def exact_numeric_aggregates() -> None:
    """Snowflake's SUM/AVG of NUMBER is exact; fakesnow wraps every numeric aggregate's argument in
    TRY_CAST(... AS DOUBLE) (to mimic Snowflake's implicit VARCHAR-to-number cast), which rounds
    large integers and decimals. This keeps DuckDB's exact aggregates; the implicit cast of VARCHAR
    arguments is then not emulated (the product never aggregates text)."""
    import fakesnow.transforms as fakesnow_transforms  # noqa: PLC0415

    def numeric_agg_implicit_cast(expression: Any) -> Any:
        return expression

    fakesnow_transforms.numeric_agg_implicit_cast = numeric_agg_implicit_cast


def apply_all() -> list[str]:
    keep_null_timestamps_in_results()
    exact_numeric_aggregates()
    return list(PATCHES)
