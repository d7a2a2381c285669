"""The indexer's wallet-signature check at the edge, for every route that needs one.

Headers: `x-signature`, `x-message` (URL-encoded, as `encodeURIComponent` writes it) and `x-signer`
(optional; the path wallet by default). `signed_wallet()` returns the wallet that proved control, or
raises IndexerError(401) (400 for a path that names no wallet).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import falcon

from chainmail.domain.identity.application import Identity, SignInRefused
from chainmail.domain.identity.signatures import MAX_MESSAGE_CHARS, Wallet, parse_wallet
from chainmail.http.errors import IndexerError
from chainmail.http.router import Router
from chainmail.system import System

# The indexer's routes answer under the prefix itself and, for older clients, under `/api` too.
MOUNTS = ("", "/api")


def envelope(data: Any) -> dict[str, Any]:
    """The indexer's success shape: `{success, data, error, timestamp}`."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"success": True, "data": data, "error": None, "timestamp": now}


def add_everywhere(idx: Router, path: str, resource: object, *, mounts: tuple[str, ...] = MOUNTS) -> None:
    for mount in mounts:
        idx.add(mount + path, resource)


def path_wallet(text: str) -> Wallet:
    wallet = parse_wallet(text)
    if wallet is None:
        raise IndexerError(400, "INVALID_WALLET_ADDRESS", "Invalid wallet address")
    return wallet


@contextmanager
def refusals_as_401() -> Iterator[None]:
    """SignInRefused from the identity context becomes the indexer's 401."""
    try:
        yield
    except SignInRefused as refused:
        raise IndexerError(401, refused.code, refused.message) from None


def signed_headers(req: falcon.Request) -> tuple[str, str, str | None]:
    """(message, signature, signer) from the headers; 401 when missing or undecodable."""
    raw_signature = req.get_header("x-signature")
    raw_message = req.get_header("x-message")
    if not raw_signature or not raw_message:
        raise IndexerError(401, "MISSING_SIGNATURE", "x-signature and x-message headers are required")
    if len(raw_message) > 3 * MAX_MESSAGE_CHARS or len(raw_signature) > 512:
        raise IndexerError(401, "INVALID_SIGNATURE", "Signature or message is too long")
    try:
        message = unquote(raw_message, errors="strict")
    except UnicodeDecodeError:
        raise IndexerError(401, "INVALID_MESSAGE", "x-message is not URL-encoded UTF-8") from None
    signature = raw_signature.replace("\r", "").replace("\n", "").strip()
    return message, signature, req.get_header("x-signer")


def signed_wallet(
    req: falcon.Request,
    identity: Identity,
    wallet: Wallet,
    *,
    allow_delegate: bool = False,
) -> Wallet:
    """The wallet whose signature authorises this request for `wallet`: `wallet` itself or, where
    `allow_delegate` (read-only routes), its active delegate. 401 otherwise."""
    message, signature, signer_text = signed_headers(req)
    signer = wallet if not signer_text else parse_wallet(signer_text)
    if signer is None:
        raise IndexerError(401, "INVALID_SIGNER", "x-signer is not a wallet address")
    with refusals_as_401():
        identity.authorize_signer(wallet, signer, allow_delegate=allow_delegate)
        identity.check_signed_message(signer, message, signature)
    return signer


def identity_of(system: System) -> Identity:
    """The identity context, its directory wired to this process's read models and resolvers once."""
    from chainmail.identity.wiring import wire

    identity = system.context(Identity)
    wire(system, identity)
    return identity


def rate_limited(system: System, *keys: str) -> None:
    """429 when any of `keys` (e.g. `wallet:0x…`, `client:…`, `ip:…`) went over its per-minute budget."""
    from chainmail.identity.wiring import wire

    limiter = wire(system, system.context(Identity)).limiter
    for key in keys:
        if not limiter.allow(key):
            raise IndexerError(429, "RATE_LIMITED", "Too many requests, slow down")
