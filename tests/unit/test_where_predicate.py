"""The `where` option: one boolean expression, rendered from its parse tree in parentheses; the
stacked statements, comments and side-effecting calls an attacker would use are refused, naming
`where` and the table."""

from __future__ import annotations

import pytest
from aurora_batch.config import table_options
from aurora_batch.config.where import render_where
from aurora_batch.errors import ConfigError
from aurora_batch.model import TableRef


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("region = 'eu'", "(region = 'eu')"),
        ("name LIKE 'a%'", "(name LIKE 'a%')"),
        ("a = 1 or b = 2", "(a = 1 OR b = 2)"),
        ("(a = 1 or b = 2)", "(a = 1 OR b = 2)"),
        ("x::date >= '2024-01-01'", "(CAST(x AS DATE) >= '2024-01-01')"),
        ("id IN (SELECT id FROM other)", "(id IN (SELECT id FROM other))"),
        (
            "profile->>'kind' = 'a' AND lower(city) LIKE 'town%'",
            "(profile ->> 'kind' = 'a' AND LOWER(city) LIKE 'town%')",
        ),
        ("'a;b' = label", "('a;b' = label)"),
    ],
)
def test_a_predicate_is_rendered_from_its_tree_in_parentheses(text: str, rendered: str) -> None:
    assert render_where(text) == rendered
    assert render_where(rendered) == rendered  # rendering again changes nothing


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("true; COMMIT; INSERT INTO public.victim VALUES (1)", "no ';'"),
        ("id = 1;", "no ';'"),
        ("COMMIT", "COMMIT is not allowed"),
        ("SELECT 1", "not a statement"),
        ("WITH gone AS (DELETE FROM victim RETURNING *) SELECT true", "not a statement"),
        ("EXISTS (WITH gone AS (DELETE FROM victim RETURNING *) SELECT 1)", "not allowed"),
        ("id IN (SELECT id FROM victim FOR UPDATE)", "LOCK is not allowed"),
        ("status = 'x' -- hidden", "comment"),
        ("status = /* hidden */ 'x'", "comment"),
        ("pg_sleep(600) IS NULL", "pg_sleep()"),
        ("EXISTS (SELECT pg_sleep(600))", "pg_sleep()"),
        ("set_config('default_transaction_read_only', 'off', false) = 'off'", "set_config()"),
        ("nextval('seq') > 0", "nextval()"),
        ("dblink_exec('dbname=x', 'DELETE FROM t') = 'x'", "dblink_exec()"),
        ("lo_import('/etc/passwd') > 0", "lo_import()"),
        ("pg_read_file('/etc/passwd') = ''", "pg_read_file()"),
        ("random() < 0.5", "rand()"),
        ("", "boolean expression"),
        ("a = (", "cannot be parsed"),
        ("a" * 5000, "at most"),
    ],
)
def test_anything_but_one_safe_expression_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"must|cannot") as raised:
        render_where(text)
    assert reason in str(raised.value)


def test_a_refused_where_names_the_field_and_the_table() -> None:
    attack = "true; COMMIT; INSERT INTO public.victim VALUES (1)"
    with pytest.raises(ConfigError) as raised:
        table_options({"schema_name": "sales", "table_name": "orders", "where": attack}, "TABLES")

    assert raised.value.fields["field"] == "where"
    assert raised.value.fields["table"] == "sales.orders"
    assert "TABLES: sales.orders: where" in str(raised.value)


def test_options_keep_the_rendered_predicate() -> None:
    options = table_options({"table_name": "orders", "where": "region='eu'"}, "TABLES")
    assert options.where == "(region = 'eu')"


# --- table names as state keys ------------------------------------------------------------------


def test_a_dot_in_a_name_no_longer_makes_two_tables_share_a_key() -> None:
    dotted_schema = TableRef("a.b", "c")
    dotted_table = TableRef("a", "b.c")

    assert dotted_schema.qualified == '"a.b".c'
    assert dotted_table.qualified == 'a."b.c"'
    assert dotted_schema.legacy_key == dotted_table.legacy_key == "a.b.c"  # the former collision


@pytest.mark.parametrize(
    "ref",
    [
        TableRef("public", "orders"),
        TableRef("a.b", "c"),
        TableRef("a", "b.c"),
        TableRef('x"y', "z"),
        TableRef("s", '"'),
    ],
)
def test_a_key_reads_back_as_its_table(ref: TableRef) -> None:
    assert TableRef.parse(ref.qualified) == ref


def test_ordinary_names_keep_their_key_and_unquoted_text_reads_as_before() -> None:
    assert TableRef("public", "orders").qualified == "public.orders"
    assert TableRef.parse("orders") == TableRef("public", "orders")
    assert TableRef.parse("a.b.c") == TableRef("a", "b.c")  # the first dot ends the schema, as before


@pytest.mark.parametrize("text", ['a."b', '"a"x.b', ".b", "a."])
def test_a_malformed_table_name_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="table"):
        TableRef.parse(text)
