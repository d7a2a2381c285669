"""Mounting route groups under the API and indexer prefixes."""

from __future__ import annotations

import falcon


class Router:
    """Adds routes under a prefix; an empty prefix mounts them at the root."""

    def __init__(self, app: falcon.App, prefix: str) -> None:
        self.app, self.prefix = app, prefix
        self.routes: list[tuple[str, object, str | None]] = []  # (path, resource, suffix), for the OpenAPI document

    def add(self, path: str, resource: object, **kwargs: object) -> None:
        self.app.add_route(self.prefix + path, resource, **kwargs)
        suffix = kwargs.get("suffix")
        self.routes.append((path, resource, suffix if isinstance(suffix, str) else None))
