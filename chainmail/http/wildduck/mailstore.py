"""The mail store's route groups (mailboxes, messages, ...), registered with the API as one."""

from __future__ import annotations

from chainmail.http.router import Router
from chainmail.http.wildduck import archive, audit, autoreply, filters, mailboxes, messages, search, storage, updates
from chainmail.http.wildduck import submit as wildduck_submit
from chainmail.system import System

GROUPS = (
    mailboxes.add_routes,
    messages.add_routes,
    search.add_routes,
    archive.add_routes,
    storage.add_routes,
    filters.add_routes,
    autoreply.add_routes,
    updates.add_routes,
    audit.add_routes,
    wildduck_submit.add_routes,
)


def add_routes(api: Router, system: System) -> None:
    for add in GROUPS:
        add(api, system)
