"""A wallet's mail templates and webhooks on the indexer API, signed by the owning wallet (the client's
`IndexerTemplate*` and `IndexerWebhook*` types: `{template|templates, total, hasMore, verified}`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import falcon
from pydantic import BaseModel, Field, StringConstraints, field_validator

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.signatures import Wallet
from chainmail.domain.identity.wallet_tools import MAX_BODY, MAX_NAME, MAX_SUBJECT, MAX_URL
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, path_wallet, signed_wallet
from chainmail.http.router import Router
from chainmail.http.validation import indexer_body
from chainmail.projections import mail_templates, wallet_webhooks
from chainmail.system import System

DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 50, 100, 1_000_000
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]
Subject = Annotated[str, StringConstraints(max_length=MAX_SUBJECT)]
Body = Annotated[str, StringConstraints(max_length=MAX_BODY)]


class TemplateCreate(BaseModel):
    name: Name
    subject: Subject
    body: Body


class TemplateUpdate(BaseModel):
    name: Name | None = None
    subject: Subject | None = None
    body: Body | None = None


class WebhookCreate(BaseModel):
    webhookUrl: str = Field(max_length=MAX_URL)

    @field_validator("webhookUrl")
    @classmethod
    def http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value.strip()):
            raise ValueError("must be an http or https URL")
        return value.strip()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _block_time(seconds: int | None) -> str | None:
    return _iso(datetime.fromtimestamp(seconds, UTC)) if seconds is not None else None


def template_data(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "userId": row["wallet"],
        "name": row["name"],
        "subject": row["subject"],
        "body": row["body"],
        "isActive": row["is_active"],
        "usageCount": row["usage_count"],
        "lastUsedAt": _block_time(row["last_used_block_time"]),
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
    }


def webhook_data(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "userId": row["wallet"],
        "webhookUrl": row["webhook_url"],
        "isActive": row["is_active"],
        "lastTriggeredAt": _block_time(row["last_triggered_block_time"]),
        "triggerCount": row["trigger_count"],
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
    }


def paging(params: dict[str, Any]) -> tuple[bool | None, int, int]:
    """The client's list parameters: `active` (true|false), `limit` (1..100) and `offset`."""

    def number(key: str, default: int, low: int, high: int) -> int:
        value = params.get(key)
        if value in (None, ""):
            return default
        if not isinstance(value, str) or not value.strip().isdigit() or not low <= int(value) <= high:
            raise IndexerError(400, "INVALID_PARAMETER", f"{key} must be an integer from {low} to {high}")
        return int(value)

    active = params.get("active")
    if active not in (None, "", "true", "false"):
        raise IndexerError(400, "INVALID_PARAMETER", "active must be true or false")
    flag = None if active in (None, "") else active == "true"
    return flag, number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), number("offset", 0, 0, MAX_OFFSET)


def _owner(system: System, req: falcon.Request, walletAddress: str) -> tuple[Identity, Wallet]:
    """The path wallet, once its own signature (not a delegate's) proved control of it."""
    wallet = path_wallet(walletAddress)
    identity = identity_of(system)
    signed_wallet(req, identity, wallet)
    return identity, wallet


def _known_id(text: str, kind: str) -> str:
    if not _ID.match(text):
        raise IndexerError(404, f"{kind.upper()}_NOT_FOUND", f"{kind.capitalize()} not found")
    return text


class TemplatesResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        identity, wallet = _owner(self.system, req, walletAddress)
        body = indexer_body(TemplateCreate, req.context.params)
        created = identity.create_template(wallet, body.name, body.subject, body.body)
        with self.system.engine.connect() as conn:
            row = mail_templates.template(conn, created.template_id)
        if row is None:  # the synchronous read model includes every write; this would be a broken projection
            raise IndexerError(503, "NOT_YET_VISIBLE", "The template was saved but is not readable yet")
        resp.status = 201
        resp.media = envelope({"template": template_data(row), "verified": True})

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        _identity, wallet = _owner(self.system, req, walletAddress)
        active, limit, offset = paging(req.context.params)
        with self.system.engine.connect() as conn:
            rows, total = mail_templates.templates_of(conn, wallet.address, active=active, limit=limit, offset=offset)
        resp.media = envelope(
            {
                "templates": [template_data(row) for row in rows],
                "total": total,
                "hasMore": offset + len(rows) < total,
                "verified": True,
            }
        )


class TemplateResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _template(self, req: falcon.Request, walletAddress: str, templateId: str) -> tuple[Identity, Any]:
        identity, wallet = _owner(self.system, req, walletAddress)
        found = identity.template_of(wallet, _known_id(templateId, "template"))
        if found is None:
            raise IndexerError(404, "TEMPLATE_NOT_FOUND", "Template not found")
        return identity, found

    def _answer(self, resp: falcon.Response, template_id: str) -> None:
        with self.system.engine.connect() as conn:
            row = mail_templates.template(conn, template_id)
        if row is None:
            raise IndexerError(404, "TEMPLATE_NOT_FOUND", "Template not found")
        resp.media = envelope({"template": template_data(row), "verified": True})

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str, templateId: str) -> None:
        _identity, found = self._template(req, walletAddress, templateId)
        self._answer(resp, found.template_id)

    def on_put(self, req: falcon.Request, resp: falcon.Response, walletAddress: str, templateId: str) -> None:
        identity, wallet = _owner(self.system, req, walletAddress)
        template_id = _known_id(templateId, "template")
        changes = indexer_body(TemplateUpdate, req.context.params)
        if changes.name is None and changes.subject is None and changes.body is None:
            raise IndexerError(400, "VALIDATION_ERROR", "body: name, subject or body is required")
        identity.update_template(wallet, template_id, changes.name, changes.subject, changes.body)
        self._answer(resp, template_id)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, walletAddress: str, templateId: str) -> None:
        identity, wallet = _owner(self.system, req, walletAddress)
        identity.delete_template(wallet, _known_id(templateId, "template"))
        resp.media = envelope({"message": "Template deleted", "verified": True})


class WebhooksResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        identity, wallet = _owner(self.system, req, walletAddress)
        body = indexer_body(WebhookCreate, req.context.params)
        created = identity.create_webhook(wallet, body.webhookUrl)
        with self.system.engine.connect() as conn:
            row = wallet_webhooks.webhook(conn, created.webhook_id)
        if row is None:  # the synchronous read model includes every write; this would be a broken projection
            raise IndexerError(503, "NOT_YET_VISIBLE", "The webhook was saved but is not readable yet")
        resp.status = 201
        resp.media = envelope({"webhook": webhook_data(row), "verified": True})

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        _identity, wallet = _owner(self.system, req, walletAddress)
        active, limit, offset = paging(req.context.params)
        with self.system.engine.connect() as conn:
            rows, total = wallet_webhooks.webhooks_of(conn, wallet.address, active=active, limit=limit, offset=offset)
        resp.media = envelope(
            {
                "webhooks": [webhook_data(row) for row in rows],
                "total": total,
                "hasMore": offset + len(rows) < total,
                "verified": True,
            }
        )


class WebhookResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _webhook(self, req: falcon.Request, walletAddress: str, webhookId: str) -> tuple[Identity, Any]:
        identity, wallet = _owner(self.system, req, walletAddress)
        found = identity.webhook_of(wallet, _known_id(webhookId, "webhook"))
        if found is None:
            raise IndexerError(404, "WEBHOOK_NOT_FOUND", "Webhook not found")
        return identity, found

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str, webhookId: str) -> None:
        _identity, found = self._webhook(req, walletAddress, webhookId)
        with self.system.engine.connect() as conn:
            row = wallet_webhooks.webhook(conn, found.webhook_id)
        if row is None:
            raise IndexerError(404, "WEBHOOK_NOT_FOUND", "Webhook not found")
        resp.media = envelope({"webhook": webhook_data(row), "verified": True})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, walletAddress: str, webhookId: str) -> None:
        identity, wallet = _owner(self.system, req, walletAddress)
        identity.delete_webhook(wallet, _known_id(webhookId, "webhook"))
        resp.media = envelope({"message": "Webhook deleted", "verified": True})


def add_routes(idx: Router, system: System) -> None:
    add_everywhere(idx, "/wallets/{walletAddress}/templates", TemplatesResource(system))
    add_everywhere(idx, "/wallets/{walletAddress}/templates/{templateId}", TemplateResource(system))
    add_everywhere(idx, "/wallets/{walletAddress}/webhooks", WebhooksResource(system))
    add_everywhere(idx, "/wallets/{walletAddress}/webhooks/{webhookId}", WebhookResource(system))
