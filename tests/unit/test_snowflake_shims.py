"""The emulator's shim registry: every shimmed statement is real Snowflake SQL (sqlglot's Snowflake
dialect parses it), each is routed to its own shim, and everything else goes to fakesnow."""

from __future__ import annotations

import pytest
import sqlglot
from aurora_batch_dev.snowflake_shims import (
    SHIMS,
    Shim,
    find_shim,
    identifier_parts,
    statement_body,
    string_literal_value,
)

EXAMPLES = [(shim, example) for shim in SHIMS for example in shim.examples]


def test_every_shim_is_documented_and_has_examples() -> None:
    assert SHIMS
    assert len({shim.name for shim in SHIMS}) == len(SHIMS)
    for shim in SHIMS:
        assert shim.examples, shim.name
        assert shim.description, f"{shim.name} has no docstring saying what it emulates"
        assert shim.emulates.split()[0].upper() in {
            "ALTER",
            "CREATE",
            "COMMENT",
            "REMOVE",
            "GRANT",
            "INSERT",
            "SHOW",
            "SELECT",
            "DROP",
        }


@pytest.mark.parametrize(("shim", "example"), EXAMPLES, ids=[f"{s.name}:{i}" for i, (s, _) in enumerate(EXAMPLES)])
def test_shimmed_statement_is_snowflake_sql_and_routed_to_its_shim(shim: Shim, example: str) -> None:
    parsed = sqlglot.parse_one(example, read="snowflake")

    assert isinstance(parsed, sqlglot.exp.Expr)
    found = find_shim(example)
    assert found is not None
    assert found[0] is shim


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE ORDERS RENAME TO ORDERS_OLD",
        "ALTER TABLE ORDERS ADD COLUMN NOTE VARCHAR",
        "ALTER SESSION SET TIMEZONE = 'UTC'",
        "CREATE TABLE ORDERS (ID INTEGER)",
        "CREATE OR REPLACE TABLE ORDERS AS SELECT 1 AS ID",
        "CREATE STAGE S URL = 's3://b/p/' STORAGE_INTEGRATION = I",
        "COMMENT ON TABLE ORDERS IS 'x'",
        "SELECT 'ALTER TABLE A SWAP WITH B'",
        "COPY INTO ORDERS FROM @AURORA_BATCH_STAGE FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET)",
        "MERGE INTO T USING S ON T.ID = S.ID WHEN MATCHED THEN UPDATE SET T.V = S.V",
    ],
)
def test_other_statements_go_to_fakesnow(statement: str) -> None:
    assert find_shim(statement) is None


def test_leading_comments_and_trailing_semicolon_do_not_hide_a_statement() -> None:
    sql_text = "/* run 7 */\n-- cleanup\n  ALTER SESSION UNSET QUERY_TAG ;  "

    assert statement_body(sql_text) == "ALTER SESSION UNSET QUERY_TAG"
    found = find_shim(sql_text)
    assert found is not None
    assert found[0].name == "alter_session_unset_query_tag"


def test_names_resolve_like_snowflake_identifiers() -> None:
    assert identifier_parts('analytics.public."Mixed ""Case"" name"') == [
        "ANALYTICS",
        "PUBLIC",
        'Mixed "Case" name',
    ]
    assert identifier_parts("orders") == ["ORDERS"]


def test_swap_names_are_taken_from_the_statement() -> None:
    found = find_shim('ALTER TABLE db.s."live" SWAP WITH "live__stage"')
    assert found is not None
    _, match = found
    assert (match["table"], match["other"]) == ('db.s."live"', '"live__stage"')


@pytest.mark.parametrize(
    ("literal", "value"),
    [("'plain'", "plain"), ("'it''s'", "it's"), (r"'it\'s'", "it's"), (r"'back\\slash'", "back\\slash")],
)
def test_string_literals_are_unescaped(literal: str, value: str) -> None:
    assert string_literal_value(literal) == value
