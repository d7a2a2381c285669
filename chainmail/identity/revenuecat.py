"""The nameservice entitlement from RevenueCat's REST API (`GET /v1/subscribers/{app_user_id}`), cached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

log = structlog.get_logger(__name__)


class EntitlementUnavailable(Exception):
    """RevenueCat could not be asked (network, 5xx, unreadable answer)."""


@dataclass(frozen=True)
class Entitlement:
    has_entitlement: bool
    is_active: bool
    product_identifier: str | None = None
    expires_date: str | None = None
    store: str | None = None
    configured: bool = True


NOT_CONFIGURED = Entitlement(False, False, configured=False)


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entitlement_from(subscriber: dict[str, Any], entitlement_id: str, now: datetime) -> Entitlement:
    entry = (subscriber.get("entitlements") or {}).get(entitlement_id)
    if not isinstance(entry, dict):
        return Entitlement(False, False)
    expires = entry.get("expires_date")
    expiry = _parse_time(expires) if isinstance(expires, str) else None
    active = expires is None or (expiry is not None and expiry > now)
    product = entry.get("product_identifier")
    subscription = (subscriber.get("subscriptions") or {}).get(product) or {}
    store = subscription.get("store") if isinstance(subscription, dict) else None
    return Entitlement(True, active, product, expires, store)


class RevenueCat:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        sandbox_key: str | None = None,
        entitlement_id: str = "nameservice",
        timeout: float = 5.0,
        cache_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url, self.api_key, self.sandbox_key = base_url.rstrip("/"), api_key, sandbox_key
        self.entitlement_id, self.timeout, self.cache_seconds, self.clock = (
            entitlement_id,
            timeout,
            cache_seconds,
            clock,
        )
        self._cache: dict[str, tuple[float, Entitlement]] = {}
        self._lock = threading.Lock()

    def entitlement(self, app_user_id: str) -> Entitlement:
        if not self.api_key:
            return NOT_CONFIGURED
        now = self.clock()
        with self._lock:
            hit = self._cache.get(app_user_id)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        found = self._ask(app_user_id, self.api_key)
        if not found.has_entitlement and self.sandbox_key:
            found = self._ask(app_user_id, self.sandbox_key)
        with self._lock:
            self._cache[app_user_id] = (now, found)
        return found

    def _ask(self, app_user_id: str, key: str) -> Entitlement:
        url = f"{self.base_url}/v1/subscribers/{quote(app_user_id, safe='')}"
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise EntitlementUnavailable(f"RevenueCat unreachable: {error}") from None
        if response.status_code == 404:
            return Entitlement(False, False)
        if response.status_code != 200:
            log.warning("revenuecat refused", status=response.status_code)
            raise EntitlementUnavailable(f"RevenueCat answered {response.status_code}")
        try:
            subscriber = response.json()["subscriber"]
        except (ValueError, KeyError, TypeError):
            raise EntitlementUnavailable("RevenueCat's answer is unreadable") from None
        return entitlement_from(subscriber, self.entitlement_id, datetime.now(UTC))
