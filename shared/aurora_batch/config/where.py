"""The `where` option: one boolean expression, parsed with sqlglot's PostgreSQL dialect and rendered
back from its parse tree, in parentheses.

The extract's SQL goes to PostgreSQL as a simple query, where a `;` would start another statement
(a COMMIT ends the snapshot and what follows could write). So the text is accepted only when it is
exactly one expression built from an allow-list of node types: columns, literals, comparisons,
boolean and arithmetic operators, casts, CASE, JSON operators, read-only subqueries and functions
that neither write, wait nor read server state. No semicolon and no comment survive, and what runs
is the tree rendered again, never the text as written.

sqlglot is imported here only, when a table sets `where`: the functions that never replicate do
not ship it.
"""

from __future__ import annotations

from typing import Any

MAX_WHERE_LENGTH = 4000

# Node types a predicate may hold, by sqlglot class name. Anything else (statements, DML, DDL,
# transaction control, SET, locking clauses, CTEs, SELECT INTO, unknown functions) is refused.
# fmt: off
_ALLOWED_NODES = frozenset(
    {
        # values and names
        "Column", "Identifier", "Literal", "Boolean", "Null", "Var", "Paren", "Tuple", "Array",
        "Interval", "DataType", "DataTypeParam", "Cast", "Collate", "Escape", "Star",
        # boolean logic and comparisons
        "And", "Or", "Not", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "NullSafeEQ", "NullSafeNEQ",
        "Is", "In", "Between", "Like", "ILike", "SimilarTo", "RegexpLike", "RegexpILike", "Any", "All",
        "Case", "If", "Exists",
        # arithmetic and text operators
        "Add", "Sub", "Mul", "Div", "IntDiv", "Mod", "Neg", "DPipe",
        # json / jsonb / array operators
        "JSONExtract", "JSONExtractScalar", "JSONBExtract", "JSONBExtractScalar", "JSONBContains",
        "JSONPath", "JSONPathKey", "JSONPathRoot", "JSONPathSubscript", "ArrayContainsAll",
        "ArrayOverlaps",
        # immutable or stable functions sqlglot knows by type
        "Lower", "Upper", "Length", "Trim", "Substring", "Abs", "Round", "Floor", "Ceil", "Greatest",
        "Least", "Coalesce", "Nullif", "Concat", "Left", "Right", "StrPosition", "Replace", "SplitPart",
        "ArraySize", "Extract", "TimeToStr", "StrToDate", "StrToTime", "TimestampTrunc", "DateTrunc",
        "CurrentDate", "CurrentTimestamp", "CurrentTime", "Localtimestamp", "MD5",
        # a read-only subquery: `id IN (SELECT ...)`, `EXISTS (SELECT ...)`
        "Subquery", "Select", "From", "Table", "TableAlias", "Alias", "Where", "Join", "Distinct",
    }
)
# Functions sqlglot does not know by type (parsed as Anonymous), allowed by name: immutable or stable.
_ALLOWED_FUNCTIONS = frozenset(
    {
        "age", "btrim", "cardinality", "char_length", "character_length", "date_part", "jsonb_array_length",
        "json_array_length", "jsonb_typeof", "json_typeof", "lpad", "ltrim", "make_date", "num_nonnulls",
        "num_nulls", "octet_length", "rpad", "rtrim", "sign", "starts_with", "to_date", "to_timestamp", "trunc",
    }
)
# fmt: on


def render_where(text: str) -> str:
    """The predicate, checked and rendered from its parse tree, in parentheses. ValueError says why not."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.tokenizer_core import TokenType

    if not text.strip():
        raise ValueError("must be a boolean expression (leave it out to read every row)")
    if len(text) > MAX_WHERE_LENGTH:
        raise ValueError(f"must be at most {MAX_WHERE_LENGTH} characters")
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
        statements = sqlglot.parse(text, read="postgres")
    except SqlglotError as exc:
        raise ValueError(f"cannot be parsed as a PostgreSQL expression: {str(exc).splitlines()[0]}") from None
    if any(token.token_type == TokenType.SEMICOLON for token in tokens) or len(statements) != 1:
        raise ValueError("must be exactly one boolean expression: no ';' and no second statement")
    if any(token.comments for token in tokens):
        raise ValueError("must not hold a comment")
    tree = statements[0]
    while isinstance(tree, exp.Paren):  # rendering again adds no parentheses: "(a)" stays "(a)"
        tree = tree.this
    if tree is None or isinstance(tree, exp.Query):
        raise ValueError("must be one boolean expression, not a statement")
    for node in tree.walk():
        _check_node(node)
    return f"({tree.sql(dialect='postgres')})"


def _check_node(node: Any) -> None:
    from sqlglot import exp

    kind = type(node).__name__
    if kind == "Anonymous":
        name = str(node.name).lower()
        if name not in _ALLOWED_FUNCTIONS:
            raise ValueError(f"must not call {name}(): only functions that cannot write, wait or read server state")
    elif kind not in _ALLOWED_NODES:
        shown = f"{node.sql_name().lower()}()" if isinstance(node, exp.Func) else kind.upper()
        raise ValueError(f"must be one boolean expression; {shown} is not allowed in it")
