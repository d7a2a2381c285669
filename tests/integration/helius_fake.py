"""A local stand-in for Helius's webhook API (`/v0/webhooks`), checking what Helius checks: the
`api-key` query parameter and the webhook body's fields."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.local_http import QuietHandler

WEBHOOK_TYPES = {"enhanced", "raw", "discord", "enhancedDevnet", "rawDevnet", "discordDevnet"}


class FakeHelius:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body)
        fake = self

        class Handler(QuietHandler):
            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, url.path, body))
                if parse_qs(url.query).get("api-key") != [fake.api_key]:
                    self.send_json(401, {"error": "invalid api key"})
                    return
                self.send_json(*fake.route(method, url.path, body))

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self.Handler = Handler
        self.url = ""  # set while served: `with serving(fake.Handler) as fake.url`

    @staticmethod
    def _invalid(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be an object"
        if not isinstance(body.get("webhookURL"), str) or not body["webhookURL"].startswith("http"):
            return "webhookURL is required"
        if body.get("webhookType") not in WEBHOOK_TYPES:
            return "invalid webhookType"
        addresses = body.get("accountAddresses")
        if not isinstance(addresses, list) or not addresses:
            return "accountAddresses is required"
        if not isinstance(body.get("transactionTypes"), list):
            return "transactionTypes is required"
        return None

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/v0/webhooks":
            return 200, list(self.webhooks.values())
        if method == "POST" and path == "/v0/webhooks":
            problem = self._invalid(body)
            if problem:
                return 400, {"error": problem}
            webhook = {"webhookID": str(uuid.uuid4()), "wallet": "owner", **body}
            self.webhooks[webhook["webhookID"]] = webhook
            return 200, webhook
        if method == "PUT" and path.startswith("/v0/webhooks/"):
            webhook_id = path.rsplit("/", 1)[1]
            if webhook_id not in self.webhooks:
                return 404, {"error": "webhook not found"}
            problem = self._invalid(body)
            if problem:
                return 400, {"error": problem}
            self.webhooks[webhook_id] = {**self.webhooks[webhook_id], **body}
            return 200, self.webhooks[webhook_id]
        return 404, {"error": "not found"}
