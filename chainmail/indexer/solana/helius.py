"""Helius's webhook REST API (`/v0/webhooks`, the key as the `api-key` query parameter)."""

from __future__ import annotations

from typing import Any

import httpx


class HeliusError(Exception):
    """Helius refused or could not be reached; the message is fit to show."""


class Helius:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, transport: Any = None) -> None:
        self.base_url, self.api_key = base_url.rstrip("/"), api_key
        self.http = httpx.Client(timeout=timeout, transport=transport)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self.http.request(method, f"{self.base_url}{path}", params={"api-key": self.api_key}, json=body)
        except httpx.HTTPError as error:
            raise HeliusError(f"Helius is unreachable: {error}") from None
        if response.status_code >= 400:
            raise HeliusError(f"Helius answered {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            raise HeliusError("Helius answered something other than JSON") from None

    def list_webhooks(self) -> list[dict[str, Any]]:
        found = self._call("GET", "/v0/webhooks")
        if not isinstance(found, list):
            raise HeliusError("Helius's webhook list is not an array")
        return [w for w in found if isinstance(w, dict)]

    def create_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._checked(self._call("POST", "/v0/webhooks", body))

    def update_webhook(self, webhook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._checked(self._call("PUT", f"/v0/webhooks/{webhook_id}", body))

    @staticmethod
    def _checked(answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict) or not isinstance(answer.get("webhookID"), str):
            raise HeliusError("Helius's answer names no webhookID")
        return answer

    def close(self) -> None:
        self.http.close()
