"""WildDuck's webhook routes: register, list and remove the URLs told about mail events."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import falcon
from pydantic import BeforeValidator, Field

from chainmail.http.auth import USER_ID, Principal, permission
from chainmail.http.errors import WildDuckError, missing_privileges
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import ObjectIdParam, WildDuckInput, WildDuckListing, joi, parse
from chainmail.projections import users as users_model
from chainmail.projections import webhooks as webhooks_model
from chainmail.system import System

WebhookType = Annotated[
    str, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v), Field(min_length=1, max_length=128)
]


def _url(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme.lower() in ("http", "https", "smtp", "smtps") and parts.hostname:
            return value
    raise joi("must be a valid uri with a scheme matching the http|https|smtp|smtps pattern")


class ListWebhooks(WildDuckListing):
    type: Annotated[
        str | None,
        Field(max_length=128),
        BeforeValidator(lambda v: v.strip().lower() or None if isinstance(v, str) else v),
    ] = None
    user: ObjectIdParam | None = None


class CreateWebhook(WildDuckInput):
    type: list[WebhookType]
    user: ObjectIdParam | None = None
    url: Annotated[str, BeforeValidator(_url)]


class WebhookPath(WildDuckInput):
    webhook: ObjectIdParam


def _scope(principal: Principal, action: str, owner: str | None) -> None:
    """`own` grants cover webhooks of the caller's account; everything else needs `any`."""
    if permission(principal.role, action, "webhooks", own=False).granted:  # type: ignore[arg-type]
        return
    if owner and owner == principal.user and permission(principal.role, action, "webhooks", own=True).granted:  # type: ignore[arg-type]
        return
    raise missing_privileges()


class WebhooksResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListWebhooks, req.context.params)
        principal: Principal = req.context.principal
        user_id = params.user
        if not permission(principal.role, "read", "webhooks", own=False).granted:
            if not (USER_ID.match(principal.user) and permission(principal.role, "read", "webhooks", own=True).granted):
                raise missing_privileges()
            user_id = principal.user
        after, before, page_number = page_request(params.next, params.previous)
        with self.system.engine.connect() as conn:
            total = webhooks_model.count_webhooks(conn, params.type, user_id)
            page = webhooks_model.list_webhooks(
                conn, params.type, user_id, limit=int(params.limit), after=after, before=before
            )
        results = []
        for row in page.rows:
            item = {"id": row.id, "type": list(row.types), "user": row.user_id, "url": row.url}
            results.append({k: v for k, v in item.items() if v is not None})
        resp.media = {"success": True, "total": total, **page_fields(page, page_number), "results": results}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(CreateWebhook, req.context.params)
        _scope(req.context.principal, "create", body.user)
        if body.user:
            with self.system.engine.connect() as conn:
                if users_model.get_user(conn, body.user) is None:
                    raise WildDuckError(404, "UserNotFound", "This user does not exist")
        types = list(dict.fromkeys(body.type))
        resp.media = {"success": True, "id": self.system.mail.create_webhook(types, body.user, body.url)}


class WebhookResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook: str) -> None:
        params = parse(WebhookPath, req.context.params)
        with self.system.engine.connect() as conn:
            row = webhooks_model.get_webhook(conn, params.webhook)
        _scope(req.context.principal, "delete", row["user_id"] if row else None)
        if row is None:
            raise WildDuckError(404, "WebhookNotFound", "Invalid or unknown webhook identifier")
        self.system.mail.delete_webhook(params.webhook)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/webhooks", WebhooksResource(system))
    api.add("/webhooks/{webhook}", WebhookResource(system))
