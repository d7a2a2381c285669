"""The Falcon app factory: one app, the WildDuck API at the API prefix and the indexer at the indexer prefix."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from chainmail.http import openapi
from chainmail.http.auth import AccessTokenMiddleware, TokenResolver
from chainmail.http.errors import ErrorShaper
from chainmail.http.idx import chains as idx_chains
from chainmail.http.idx import graphql as idx_graphql
from chainmail.http.idx import internal as idx_internal
from chainmail.http.idx import kyc as idx_kyc
from chainmail.http.idx import names as idx_names
from chainmail.http.idx import oauth as idx_oauth
from chainmail.http.idx import points as idx_points
from chainmail.http.idx import referrals as idx_referrals
from chainmail.http.idx import solana as idx_solana
from chainmail.http.idx import users as idx_users
from chainmail.http.idx import wallet_tools as idx_wallet_tools
from chainmail.http.idx import wallets as idx_wallets
from chainmail.http.middleware import RequestIdMiddleware
from chainmail.http.params import ParamsMiddleware
from chainmail.http.router import Router
from chainmail.http.wildduck import accounts, addresses, asps, domains, health, keys, settings, twofa, users, webhooks
from chainmail.http.wildduck import acme as wildduck_acme
from chainmail.http.wildduck import auth as wildduck_auth
from chainmail.http.wildduck import data as wildduck_data
from chainmail.http.wildduck import mailstore as wildduck_mailstore
from chainmail.http.wildduck import webauthn as wildduck_webauthn
from chainmail.http.wire import json_handler
from chainmail.metrics import MetricsResource, RequestMetrics
from chainmail.system import System

MAX_BODY_BYTES = 96 * 1024 * 1024  # a 64 MiB message as base64 in JSON, with room for the other fields


# Each route group has `add_routes(router, system)`; a new group is one line here.
API_ROUTES: list[Callable[[Router, System], None]] = [health.add_routes, users.add_routes]
API_ROUTES.append(wildduck_mailstore.add_routes)
API_ROUTES += [wildduck_auth.add_routes, accounts.add_routes, addresses.add_routes]
API_ROUTES += [settings.add_routes, domains.add_routes, webhooks.add_routes, keys.add_routes]
API_ROUTES += [twofa.add_routes, asps.add_routes, wildduck_webauthn.add_routes]
API_ROUTES.append(wildduck_data.add_routes)
API_ROUTES.append(wildduck_acme.add_routes)
IDX_ROUTES: list[Callable[[Router, System], None]] = []
IDX_ROUTES += [idx_users.add_routes, idx_wallets.add_routes, idx_internal.add_routes, idx_oauth.add_routes]
IDX_ROUTES.append(idx_chains.add_routes)
IDX_ROUTES.append(idx_solana.add_routes)
IDX_ROUTES.append(idx_graphql.add_routes)
IDX_ROUTES += [idx_points.add_routes, idx_referrals.add_routes, idx_kyc.add_routes]
IDX_ROUTES += [idx_names.add_routes, idx_wallet_tools.add_routes]


def create_app(
    system: System, *, root_token: str | None = None, user_tokens: TokenResolver | None = None
) -> falcon.App:
    settings = system.settings
    shaper = ErrorShaper(settings.idx_prefix)

    def is_api(req: falcon.Request) -> bool:
        return not shaper.is_indexer(req)

    app = falcon.App(
        middleware=[
            RequestMetrics(),
            falcon.CORSMiddleware(allow_origins="*", expose_headers=["X-Request-Id"]),
            RequestIdMiddleware(),
            AccessTokenMiddleware(
                root_token=root_token if root_token is not None else settings.api_access_token,
                access_control=settings.api_access_control,
                resolve_user_token=user_tokens
                if user_tokens is not None
                else wildduck_auth.user_token_resolver(system),
                applies_to=is_api,
            ),
            ParamsMiddleware(MAX_BODY_BYTES, is_indexer=shaper.is_indexer),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = False
    app.req_options.auto_parse_qs_csv = False
    handler = json_handler()
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    shaper.install(app)

    api = Router(app, settings.api_prefix)
    for add_routes in API_ROUTES:
        add_routes(api, system)
    idx = Router(app, settings.idx_prefix)
    for add_routes in IDX_ROUTES:
        add_routes(idx, system)
    topics = {name: projection.topics() for name, projection in system.projections.projections.items()}
    app.add_route("/metrics", MetricsResource(system.engine, list(system.apps), topics))
    openapi.add_routes(api, lambda: openapi.wildduck_document(api), "chainmail WildDuck API")
    openapi.add_routes(idx, lambda: openapi.indexer_document(idx), "chainmail Mail Box Indexer API")
    return app
