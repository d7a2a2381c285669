"""OpenAPI 3.1 documents for /api and /idx, generated from the routes and the pydantic models their responders parse.

Nothing here is written per route: each responder's source is read (`ast`) for the model it validates its input
with (`parse(Model, ...)`, `indexer_body(Model, ...)`, `Model.model_validate(...)`), and for a non-JSON answer
(`resp.content_type = ...`). A responder without a model is documented with a generic JSON body.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import falcon
import orjson
from pydantic import BaseModel
from pydantic.errors import PydanticUserError
from pydantic.json_schema import models_json_schema

from chainmail.http.router import Router

METHODS = ("get", "post", "put", "patch", "delete")
VALIDATORS = {"parse", "indexer_body"}
BODY_METHODS = {"post", "put", "patch"}
HELPER_MODULES = {"chainmail.http.validation", "chainmail.http.params", "chainmail.http.auth", "chainmail.http.errors"}
SCALAR_TYPES = {"string", "integer", "number", "boolean", "null"}
GENERIC_OBJECT: dict[str, Any] = {"type": "object"}
# `{error, code}`; a refused access token answers restify's `{code, message}` as WildDuck does
WILDDUCK_ERROR = {
    "type": "object",
    "anyOf": [{"required": ["error"]}, {"required": ["code", "message"]}],
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}
# `{error, code, success: false}`; the GraphQL routes answer GraphQL's `{errors: [...]}`
INDEXER_ERROR = {
    "type": "object",
    "anyOf": [{"required": ["error"]}, {"required": ["errors"]}],
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string"},
        "success": {"const": False},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


@dataclass(frozen=True)
class Operation:
    """One documented operation: where, how, and what the responder's source says about it."""

    path: str
    method: str
    responder: Callable[..., Any]
    model: type[BaseModel] | None
    binary: bool


def _template(path: str) -> tuple[str, list[str]]:
    """Falcon's URI template as OpenAPI's (`{id:int}` -> `{id}`) and its field names."""
    names: list[str] = []

    def field(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "{" + match.group(1) + "}"

    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}", field, path), names


def _source_tree(function: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None


def _callees(resource: object, tree: ast.AST, scope: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """What the responder hands its work to, where the model may be parsed: the resource's own methods
    (`self._helper(...)`) and functions of the HTTP layer (`accounts.update_user(...)`)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            method = getattr(resource, func.attr, None)
            if inspect.ismethod(method):
                yield method
            continue
        target = _resolve(func, scope)
        if (
            inspect.isfunction(target)
            and target.__module__.startswith("chainmail.http.")
            and target.__module__ not in HELPER_MODULES
        ):
            yield target


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, scope)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _facts(function: Callable[..., Any], resource: object, depth: int = 2) -> tuple[type[BaseModel] | None, bool]:
    """The model a responder (or a helper it calls) validates its input with, and whether it answers non-JSON."""
    tree = _source_tree(function)
    if tree is None:
        return None, False
    scope = getattr(inspect.unwrap(function), "__globals__", {})
    model: type[BaseModel] | None = None
    binary = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and model is None:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in VALIDATORS and node.args:
                candidate = _resolve(node.args[0], scope)
                model = candidate if _is_model(candidate) else None
            elif name == "model_validate" and isinstance(func, ast.Attribute):
                candidate = _resolve(func.value, scope)
                model = candidate if _is_model(candidate) else None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "content_type" for t in node.targets
        ):
            binary = binary or not (isinstance(node.value, ast.Attribute) and node.value.attr == "MEDIA_JSON")
    if depth > 0 and (model is None or not binary):
        for callee in _callees(resource, tree, scope):
            found, callee_binary = _facts(callee, resource, depth - 1)
            model = model or found
            binary = binary or callee_binary
    return model, binary


def operations(router: Router) -> list[Operation]:
    """Every responder mounted through `router`, in the order the routes were added."""
    found = []
    for path, resource, suffix in router.routes:
        for method in METHODS:
            responder = getattr(resource, f"on_{method}" + (f"_{suffix}" if suffix else ""), None)
            if responder is None:
                continue
            model, binary = _facts(responder, resource)
            found.append(Operation(router.prefix + path, method, responder, model, binary))
    return found


def _model_schemas(models: set[type[BaseModel]]) -> tuple[dict[type[BaseModel], dict[str, Any]], dict[str, Any]]:
    """Each model's reference and the shared component schemas, from pydantic's validation-mode JSON Schema."""
    usable = []
    for model in sorted(models, key=lambda m: (m.__module__, m.__qualname__)):
        try:
            model.model_json_schema(mode="validation")
        except (PydanticUserError, TypeError, ValueError):
            continue  # a type without a JSON Schema: the operation keeps a generic body
        usable.append(model)
    refs, top = models_json_schema(
        [(m, "validation") for m in usable], ref_template="#/components/schemas/{model}", title="chainmail"
    )
    return {model: ref for (model, _), ref in refs.items()}, top.get("$defs", {})


def _is_scalar(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return _is_scalar(components.get(schema["$ref"].rsplit("/", 1)[-1], {}), components)
    if "anyOf" in schema:
        return all(_is_scalar(s, components) for s in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind) <= SCALAR_TYPES
    return kind in SCALAR_TYPES or "enum" in schema or "const" in schema


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
    if where == "path":  # a path segment is always a non-empty string on the wire
        schema = {"type": "string", "minLength": 1, "pattern": "^[^/?#]+$"}
    parameter = {"name": name, "in": where, "required": required, "schema": schema}
    if "description" in schema:
        parameter["description"] = schema["description"]
    return parameter


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[{}]", "", path).strip("/").replace("-", "_").replace(".", "_").split("/")
    return method + "_" + "_".join(w for w in words if w)


def build(
    router: Router,
    *,
    title: str,
    description: str,
    error_schema: dict[str, Any],
    security: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation mounted through `router`."""
    ops = operations(router)
    refs, components = _model_schemas({op.model for op in ops if op.model is not None})
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        path, names = _template(op.path)
        model_schema = components.get(refs[op.model]["$ref"].rsplit("/", 1)[-1]) if op.model in refs else None
        properties = dict((model_schema or {}).get("properties", {}))
        required = set((model_schema or {}).get("required", []))
        parameters = [_parameter(name, "path", properties.get(name, {}), True) for name in names]
        body: dict[str, Any] | None = None
        if op.method in BODY_METHODS:
            if model_schema is not None:
                schema = copy.deepcopy(model_schema)
                schema.pop("title", None)
                schema["properties"] = {k: v for k, v in properties.items() if k not in names}
                schema["required"] = sorted(required - set(names))
                if not schema["required"]:
                    schema.pop("required")
                body = {"required": bool(required - set(names)), "content": {"application/json": {"schema": schema}}}
            else:
                body = {"required": False, "content": {"application/json": {"schema": GENERIC_OBJECT}}}
        else:
            for name, schema in properties.items():
                if name not in names and _is_scalar(schema, components):
                    parameters.append(_parameter(name, "query", schema, name in required))
        answer = {"schema": {}} if op.binary else {"schema": GENERIC_OBJECT}
        operation: dict[str, Any] = {
            "operationId": _operation_id(op.method, path),
            "tags": [path.split("/")[2] if path.count("/") > 1 else "root"],
            "summary": (inspect.getdoc(op.responder) or "").split("\n", 1)[0] or None,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "success",
                    "content": {"*/*" if op.binary else "application/json": answer},
                },
                "default": {"description": "an error", "content": {"application/json": {"schema": error_schema}}},
            },
        }
        if operation["summary"] is None:
            del operation["summary"]
        if op.model is not None:
            operation["x-model"] = f"{op.model.__module__}.{op.model.__qualname__}"
        if body is not None:
            operation["requestBody"] = body
        paths.setdefault(path, {})[op.method] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": _version(), "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components},
    }
    if security:
        document["components"]["securitySchemes"] = security
        document["security"] = [{name: []} for name in security]
    return document


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainmail")
    except PackageNotFoundError:
        return "0"


class OpenApiResource:
    """`GET <prefix>/openapi.json`: the document, built once at first request (after every route is mounted)."""

    public = True

    def __init__(self, build_document: Callable[[], dict[str, Any]]) -> None:
        self.build_document = build_document
        self._body: bytes | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._body is None:
            self._body = orjson.dumps(self.build_document())
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{prefix}/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{prefix}/docs/static/swagger-ui-bundle.js"></script>
<script src="{prefix}/docs/static/docs.js"></script>
</body></html>
"""
DOCS_SCRIPT = """window.ui = SwaggerUIBundle({url: "%s/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n"""
STATIC_FILES = {"swagger-ui.css": "text/css; charset=utf-8", "swagger-ui-bundle.js": "text/javascript; charset=utf-8"}


class DocsResource:
    """`GET <prefix>/docs`: Swagger UI over the document, its assets served from the swagger-ui-py package."""

    public = True

    def __init__(self, prefix: str, title: str) -> None:
        self.prefix, self.title = prefix, title

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = DOCS_PAGE.format(title=self.title, prefix=self.prefix)

    def on_get_static(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name == "docs.js":
            resp.content_type = "text/javascript; charset=utf-8"
            resp.text = DOCS_SCRIPT % self.prefix
            return
        if name not in STATIC_FILES:
            raise falcon.HTTPNotFound()
        resp.content_type = STATIC_FILES[name]
        resp.data = _asset(name)
        resp.cache_control = ["public", "max-age=86400"]


@cache
def _asset(name: str) -> bytes:
    return resources.files("swagger_ui").joinpath("static", name).read_bytes()


def add_routes(router: Router, build_document: Callable[[], dict[str, Any]], title: str) -> None:
    """Mount `<prefix>/openapi.json` and `<prefix>/docs` (call after the other routes)."""
    app, prefix = router.app, router.prefix  # mounted past `router.add`: they document nothing themselves
    app.add_route(prefix + "/openapi.json", OpenApiResource(build_document))
    docs = DocsResource(prefix, title)
    app.add_route(prefix + "/docs", docs)
    app.add_route(prefix + "/docs/static/{name}", docs, suffix="static")


def wildduck_document(router: Router) -> dict[str, Any]:
    return build(
        router,
        title="chainmail WildDuck API",
        description="The WildDuck-compatible mail API. Errors answer `{error, code}`; the root token or a user "
        "token goes in `X-Access-Token` (or `accessToken`).",
        error_schema=WILDDUCK_ERROR,
        security={"accessToken": {"type": "apiKey", "in": "header", "name": "X-Access-Token"}},
    )


def indexer_document(router: Router) -> dict[str, Any]:
    return build(
        router,
        title="chainmail Mail Box Indexer API",
        description="The Mail Box Indexer API. Errors answer `{error, code, success: false}`.",
        error_schema=INDEXER_ERROR,
    )
