"""`GET /` and `GET|POST /graphql` under the indexer prefix: the public GraphQL API over the chain read models.

As Ponder's `graphql()` middleware: POST executes; GET from a browser shows a small query page (no external
scripts); GET with `?query=` executes too. GraphQL errors (syntax, validation, bad arguments) answer 200 with
`{"errors": [...]}` as Ponder does; a request that is no GraphQL request at all answers 400 in the same shape.
Limits as Ponder's defaults (from Apollo): 1000 tokens, 30 aliases; depth is capped at 20 (introspection needs 13).
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import falcon
import orjson
import structlog
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    parse,
    print_schema,
    validate,
)
from pydantic import BaseModel, ConfigDict, ValidationError

from chainmail.http.bodies import bad_text_at, loads_json, read_body
from chainmail.http.idx.graphql_execution import RowsExecutor
from chainmail.http.idx.graphql_schema import QueryContext, build_schema
from chainmail.http.idx.signature import add_everywhere
from chainmail.http.router import Router
from chainmail.system import System

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_TOKENS = 1000
CHECKED_QUERIES = 512  # query texts kept parsed and validated
CHECKED_QUERY_CHARS = 16_384  # longer texts are checked each time, not kept
MAX_ALIASES = 30
MAX_DEPTH = 20
MAX_VARIABLE_NESTING = 64  # JSON levels; an AND/OR filter takes two per level (MAX_NESTING is 16)


class GraphQLRequest(BaseModel):
    """The GraphQL-over-HTTP request: a query, its variables and the operation to run."""

    model_config = ConfigDict(extra="ignore", strict=True)

    query: str
    variables: dict[str, Any] | None = None
    operationName: str | None = None


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _nesting(value: Any) -> int:
    """How deep JSON containers nest (iteratively: a hostile document must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_VARIABLE_NESTING:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _limits(document: DocumentNode) -> list[GraphQLError]:
    """Alias count and selection depth (through fragments), before validation spends time on the query."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    aliases = 0
    stack: list[tuple[SelectionSetNode, int, frozenset[str]]] = [
        (d.selection_set, 1, frozenset()) for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    while stack:
        selection_set, depth, via = stack.pop()
        if depth > MAX_DEPTH:
            return [GraphQLError(f"Syntax Error: Query depth limit of {MAX_DEPTH} exceeded.")]
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, depth + 1, via))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, depth, via))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in via:  # cycles are reported by validation
                    stack.append((fragment.selection_set, depth, via | {name}))
        if aliases > MAX_ALIASES:
            return [GraphQLError(f"Syntax Error: Aliases limit of {MAX_ALIASES} exceeded.")]
    return []


class GraphQLResource:
    """The GraphQL endpoint; the same resource answers at `/`, `/graphql` (and under `/api`)."""

    public = True
    raw_body = True  # the body is read here, so a malformed one answers in GraphQL's shape

    def __init__(self, system: System, schema: GraphQLSchema) -> None:
        self.system, self.schema = system, schema
        self.engine = system.query_engine  # made here, before the app's threads share it
        self.page = _query_page(print_schema(schema))
        # Clients send the same few query texts over and over (with other variables): each is parsed and
        # validated once; validation depends on nothing but the schema and the text.
        self._checked = lru_cache(maxsize=CHECKED_QUERIES)(self._check)

    def _check(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return None, [error]
        return document, _limits(document) or validate(self.schema, document)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = {k: v[-1] for k, v in parse_qs(req.query_string, keep_blank_values=True).items()}
        if "query" not in params:
            resp.content_type = falcon.MEDIA_HTML
            resp.text = self.page
            return
        try:
            variables = loads_json(params["variables"], max_depth=1000) if params.get("variables") else None
        except (ValueError, RecursionError):
            self._refuse(resp, RequestRefused(400, "Variables are invalid JSON."))
            return
        self._answer(resp, {**params, "variables": variables})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            body = self._body(req)
        except RequestRefused as refused:
            self._refuse(resp, refused)
            return
        self._answer(resp, body)

    def _body(self, req: falcon.Request) -> Any:
        raw = read_body(req, MAX_BODY_BYTES)
        if raw is None:
            raise RequestRefused(413, f"Request body is larger than {MAX_BODY_BYTES} bytes.")
        media_type = (req.content_type or "application/json").split(";")[0].strip().lower()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestRefused(400, "Request body is not UTF-8.") from None
        if media_type == "application/graphql":
            return {"query": text}
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise RequestRefused(415, f"Unsupported content type {media_type}: send application/json.")
        try:
            return loads_json(text, max_depth=1000)  # variables get their own, clearer limit below
        except (ValueError, RecursionError):
            raise RequestRefused(400, "POST body sent invalid JSON.") from None

    def _answer(self, resp: falcon.Response, body: Any) -> None:
        if not isinstance(body, dict):
            self._refuse(resp, RequestRefused(400, "POST body is expected to be a JSON object."))
            return
        if bad_text_at(body) is not None:
            self._refuse(resp, RequestRefused(400, "The request contains null characters or unpaired surrogates."))
            return
        if _nesting(body.get("variables")) > MAX_VARIABLE_NESTING:
            self._refuse(resp, RequestRefused(400, f"Variables nest deeper than {MAX_VARIABLE_NESTING}."))
            return
        try:
            request = GraphQLRequest.model_validate(body)
        except ValidationError as error:
            where = ".".join(str(p) for p in error.errors()[0]["loc"]) or "body"
            message = "Must provide query string." if where == "query" else f"Invalid {where} in the request."
            self._refuse(resp, RequestRefused(400, message))
            return
        self._send(resp, 200, self._execute(request).formatted)

    def _execute(self, request: GraphQLRequest) -> ExecutionResult:
        try:
            if len(request.query) <= CHECKED_QUERY_CHARS:
                document, errors = self._checked(request.query)
            else:
                document, errors = self._check(request.query)
            if errors or document is None:
                return ExecutionResult(None, errors)
            with self.engine.connect() as conn:
                result = execute_sync(
                    self.schema,
                    document,
                    variable_values=request.variables,
                    operation_name=request.operationName,
                    context_value=QueryContext(conn),
                    executor_class=RowsExecutor,
                )
        except GraphQLError as error:
            return ExecutionResult(None, [error])
        except RecursionError:
            return ExecutionResult(None, [GraphQLError("The query nests too deeply.")])
        for error in result.errors or ():
            if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
                log.error("graphql resolver failed", error=repr(error.original_error), path=error.path)
                error.message = "Unexpected error."
        return result

    def _refuse(self, resp: falcon.Response, refused: RequestRefused) -> None:
        self._send(resp, refused.status, {"errors": [{"message": refused.message}]})

    @staticmethod
    def _send(resp: falcon.Response, status: int, body: dict[str, Any]) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_JSON
        try:
            resp.data = orjson.dumps(body)
        except (TypeError, orjson.JSONEncodeError):
            # in ASCII: a lone surrogate echoed from the input (an orderBy, a bad name) cannot break it
            resp.text = json.dumps(body, separators=(",", ":"))


def _query_page(sdl: str) -> str:
    """A self-contained page to write and run queries, with the schema beside it (no external scripts)."""
    return PAGE.replace("{{SCHEMA}}", html.escape(sdl))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chainmail indexer GraphQL</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;display:flex;height:100vh}
section{flex:1;display:flex;flex-direction:column;padding:8px;min-width:0}
textarea,pre{flex:1;font:13px ui-monospace,monospace;border:1px solid #ccc;padding:6px;margin:4px 0;overflow:auto}
#vars{flex:0 0 80px} button{padding:6px 16px} details{max-height:40vh;overflow:auto}
</style></head><body>
<section><label for="q">Query</label>
<textarea id="q" spellcheck="false">query {
  mails(limit: 10, orderBy: "timestamp", orderDirection: "desc") {
    items { id chainId from to subject timestamp }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}</textarea>
<label for="vars">Variables (JSON)</label><textarea id="vars" spellcheck="false">{}</textarea>
<button id="run">Run (Ctrl+Enter)</button>
<details><summary>Schema</summary><pre>{{SCHEMA}}</pre></details></section>
<section><label for="out">Result</label><pre id="out"></pre></section>
<script>
const out = document.getElementById("out");
async function run() {
  let variables;
  try { variables = JSON.parse(document.getElementById("vars").value || "{}"); }
  catch (e) { out.textContent = "Variables: " + e.message; return; }
  const res = await fetch(location.pathname, {method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json"},
    body: JSON.stringify({query: document.getElementById("q").value, variables})});
  out.textContent = JSON.stringify(await res.json(), null, 2);
}
document.getElementById("run").onclick = run;
document.addEventListener("keydown", (e) => { if (e.ctrlKey && e.key === "Enter") run(); });
</script></body></html>
"""


def add_routes(idx: Router, system: System) -> None:
    resource = GraphQLResource(system, build_schema())
    idx.add("", resource)
    add_everywhere(idx, "/", resource)
    add_everywhere(idx, "/graphql", resource)
