"""docs/CONFIGURATION.md documents every setting, and its type table equals the one in code."""

from __future__ import annotations

from pathlib import Path

from aurora_batch.config import ENVIRONMENT_VARIABLES, TableOptions
from aurora_batch.typemap import mapping_markdown

DOC = (Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md").read_text()


def test_every_environment_variable_is_documented() -> None:
    missing = [name for name in ENVIRONMENT_VARIABLES if f"`{name}`" not in DOC]
    assert not missing


def test_every_table_option_is_documented() -> None:
    missing = [name for name in TableOptions.model_fields if f"`{name}`" not in DOC]
    assert not missing


def test_the_type_mapping_table_is_the_one_in_code() -> None:
    start, end = "<!-- type-mapping:start -->", "<!-- type-mapping:end -->"
    documented = DOC.split(start, 1)[1].split(end, 1)[0].strip()
    assert documented == mapping_markdown()
