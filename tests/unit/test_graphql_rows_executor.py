"""The GraphQL endpoint's executor completes pages of rows in one pass: its answers (data and errors) are
exactly graphql-core's own, for well-formed rows and for rows graphql-core refuses."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    execute_sync,
    parse,
)

from chainmail.http.idx.graphql_execution import RowsExecutor


def _refuse_negative(value: Any) -> str:
    if value < 0:
        raise GraphQLError("BigInt refuses negative values here.")
    return str(value)


BigInt = GraphQLScalarType("BigInt", serialize=_refuse_negative)
Row = GraphQLObjectType(
    "Row",
    {
        "id": GraphQLField(GraphQLNonNull(GraphQLString)),
        "count": GraphQLField(GraphQLInt),
        "amount": GraphQLField(GraphQLNonNull(BigInt)),
        "flag": GraphQLField(GraphQLBoolean),
        "shout": GraphQLField(GraphQLString, resolve=lambda row, _info: row["id"].upper()),
    },
)
ROWS: list[dict[str, Any] | None] = []
SCHEMA = GraphQLSchema(
    GraphQLObjectType(
        "Query",
        {
            "rows": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(Row))), resolve=lambda *_: ROWS),
            "maybe": GraphQLField(GraphQLList(Row), resolve=lambda *_: ROWS),
        },
    )
)

GOOD = [{"id": "a", "count": 1, "amount": 10**30, "flag": True}, {"id": "b", "count": None, "amount": 0}]
QUERIES = [
    "{ rows { id count amount flag } }",
    "{ rows { first: id id again: id __typename } }",
    "{ rows { id shout } }",
    "query($no: Boolean!) { rows { id count @include(if: $no) flag @skip(if: $no) } }",
    "{ rows { ...F ... on Row { amount } } } fragment F on Row { id count }",
    "{ maybe { id amount } }",
]
ROW_SETS = [
    GOOD,
    [],
    [*GOOD, {"id": None, "count": 1, "amount": 1}],  # null in a non-null field
    [*GOOD, {"id": "c", "count": 2**31, "amount": 1}],  # beyond GraphQL's Int
    [*GOOD, {"id": "c", "count": 1, "amount": -1}],  # a value the scalar refuses
    [*GOOD, {"id": "c", "count": "seven", "amount": 1}],
    [*GOOD, None],  # a null row
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("rows", ROW_SETS)
def test_pages_of_rows_answer_exactly_as_graphql_core_does(query: str, rows: list[Any]) -> None:
    ROWS[:] = rows
    document = parse(query)
    variables = {"no": False}
    theirs = execute_sync(SCHEMA, document, variable_values=variables)
    ours = execute_sync(SCHEMA, document, variable_values=variables, executor_class=RowsExecutor)
    assert ours.formatted == theirs.formatted
