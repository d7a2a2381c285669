"""graphql-core's executor with a shortcut for pages of rows: a list of objects whose selection is only
scalar fields read straight from each row (as `items { id from to subject }`) is completed in one loop per
row, not through graphql-core's several calls per field. The answer is the same; any row the shortcut cannot
complete exactly as graphql-core would (a null in a non-null field, a value its scalar refuses) sends the
whole list down graphql-core's own path, which then reports it as it always has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.pyutils import AwaitableOrValue, Path

# (response key, row key, the scalar's output coercion or None for a constant, non-null?, the constant)
Plan = tuple[tuple[str, str, Callable[[Any], Any] | None, bool, Any], ...]


class _Unplannable(Exception):
    """The shortcut does not apply: complete the list the ordinary way."""


class RowsExecutor(IncrementalExecutor):
    """Completes lists of plain rows (dicts) in one pass when their selection allows it."""

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        item_type = return_type.of_type
        non_null_items = isinstance(item_type, GraphQLNonNull)
        object_type = item_type.of_type if non_null_items else item_type
        if isinstance(result, list) and isinstance(object_type, GraphQLObjectType):
            try:
                plan = self._plan(object_type, field_details_list)
                return [_complete_row(plan, row, non_null_items) for row in result]
            except _Unplannable:
                pass
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def _plan(self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList) -> Plan:
        if object_type.is_type_of is not None:
            raise _Unplannable
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            raise _Unplannable
        plan = []
        for response_key, details in grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                plan.append((response_key, name, None, True, object_type.name))
                continue
            field = object_type.fields.get(name)
            if field is None or field.resolve is not None or field.args or node.arguments or node.selection_set:
                raise _Unplannable
            kind = field.type
            non_null = isinstance(kind, GraphQLNonNull)
            scalar = kind.of_type if non_null else kind
            if not is_leaf_type(scalar):
                raise _Unplannable
            plan.append((response_key, name, scalar.coerce_output_value, non_null, None))  # type: ignore[union-attr]
        return tuple(plan)


def _complete_row(plan: Plan, row: Any, non_null_row: bool) -> dict[str, Any] | None:
    if row is None:
        if non_null_row:
            raise _Unplannable
        return None
    if not isinstance(row, dict):
        raise _Unplannable
    out = {}
    for response_key, name, coerce, non_null, constant in plan:
        if coerce is None:
            out[response_key] = constant
            continue
        value = row.get(name)
        if value is None:
            if non_null:
                raise _Unplannable
            out[response_key] = None
            continue
        if callable(value):  # graphql-core's default resolver would call it
            raise _Unplannable
        try:
            coerced = coerce(value)
        except Exception:
            raise _Unplannable from None
        if coerced is None or coerced is Undefined:
            raise _Unplannable
        out[response_key] = coerced
    return out
