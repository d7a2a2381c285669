"""Telling registered webhooks about delivered mail: an HTTP POST of a small JSON body per matching webhook
(`messageNew`, `*`, or the account's own), sent from a background thread so the SMTP answer never waits.
Best effort: a webhook that is down misses the call, as a WildDuck webhook past its retries does."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Text, cast, func, or_, select

from chainmail.projections.webhooks import webhooks

log = structlog.get_logger(__name__)

TIMEOUT = 5.0


def webhook_urls(conn: Connection, event: str, user_id: str) -> list[str]:
    """URLs of the webhooks that want `event` for this account: listing it or `*`, for anyone or this user."""
    types = func.lower(cast(webhooks.c.types, Text))  # WildDuck lower-cases webhook types
    query = select(webhooks.c.url).where(
        or_(types.like(f'%"{event.lower()}"%'), types.like('%"*"%')),
        or_(webhooks.c.user_id.is_(None), webhooks.c.user_id == user_id),
    )
    return list(dict.fromkeys(row.url for row in conn.execute(query.order_by(webhooks.c.id))))


def post(url: str, body: dict[str, Any]) -> None:
    data = json.dumps(body, default=str).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            answer.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.info("webhook call failed", url=url, event=body.get("ev"), error=str(error))


def fire(urls: list[str], event_id: str, event: str, user_id: str, data: dict[str, Any], at: datetime) -> None:
    """POST `{id, ev, user, time, ...data}` to every URL, in the background."""
    if not urls:
        return
    body = {"id": event_id, "ev": event, "user": user_id, "time": at.isoformat(), **data}

    def send_all() -> None:
        for url in urls:
            post(url, body)

    threading.Thread(target=send_all, name=f"webhooks-{event_id}", daemon=True).start()
