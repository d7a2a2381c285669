"""The Falcon app factory: one app, the WildDuck API at the API prefix and the indexer at the indexer prefix."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from chainmail.http.auth import AccessTokenMiddleware, TokenResolver
from chainmail.http.errors import ErrorShaper
from chainmail.http.middleware import RequestIdMiddleware
from chainmail.http.params import ParamsMiddleware
from chainmail.http.wildduck.health import HealthResource
from chainmail.http.wildduck.users import ResolveUserResource, UserResource, UsersResource
from chainmail.http.wire import json_handler
from chainmail.system import System

MAX_BODY_BYTES = 96 * 1024 * 1024  # a 64 MiB message as base64 in JSON, with room for the other fields


def create_app(
    system: System, *, root_token: str | None = None, user_tokens: TokenResolver | None = None
) -> falcon.App:
    settings = system.settings
    shaper = ErrorShaper(settings.idx_prefix)

    def is_api(req: falcon.Request) -> bool:
        return not shaper.is_indexer(req)

    app = falcon.App(
        middleware=[
            falcon.CORSMiddleware(allow_origins="*", expose_headers=["X-Request-Id"]),
            RequestIdMiddleware(),
            AccessTokenMiddleware(
                root_token=root_token if root_token is not None else settings.api_access_token,
                access_control=settings.api_access_control,
                resolve_user_token=user_tokens,
                applies_to=is_api,
            ),
            ParamsMiddleware(MAX_BODY_BYTES),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = False
    app.req_options.auto_parse_qs_csv = False
    handler = json_handler()
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    shaper.install(app)

    api = Router(app, settings.api_prefix)
    api.add("/health", HealthResource(system))
    api.add("/users", UsersResource(system))
    api.add("/users/resolve/{username}", ResolveUserResource(system))
    api.add("/users/{user}", UserResource(system))
    return app


class Router:
    """Adds routes under a prefix; an empty prefix mounts them at the root."""

    def __init__(self, app: falcon.App, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    def add(self, path: str, resource: object, **kwargs: Callable[..., object]) -> None:
        self.app.add_route(self.prefix + path, resource, **kwargs)
