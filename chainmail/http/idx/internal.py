"""Internal routes, open only to configured peers (WildDuck, the points back ends):
`POST /authenticate` (a wallet's signed login) and `POST /addresses/:address/verify` (did this address sign?).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import unquote

import falcon

from chainmail.domain.identity.signatures import parse_wallet, verify_signature
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, rate_limited, refusals_as_401
from chainmail.http.router import Router
from chainmail.identity.settings import IdentitySettings, identity_settings
from chainmail.rewards.awards import reward_sign_in
from chainmail.system import System

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: list[str]) -> list[Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address


class PeerCheck:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
    X-Forwarded-For hop that is not itself a trusted proxy."""

    def __init__(self, settings: IdentitySettings) -> None:
        self.allowed = _networks(settings.internal_allowed_ips)
        self.proxies = _networks(settings.trusted_proxies)

    def _trusted(self, address: Any) -> bool:
        return any(address in net for net in self.proxies)

    def client_ip(self, req: falcon.Request) -> Any:
        peer = _ip(req.remote_addr)
        if peer is None or not self._trusted(peer):
            return peer
        hops = [hop for hop in (req.get_header("X-Forwarded-For") or "").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None:
                return None  # a forged or garbled chain names nobody we can trust
            if not self._trusted(address):
                return address
        return peer

    def require(self, req: falcon.Request) -> None:
        client = self.client_ip(req)
        if client is None or not any(client in net for net in self.allowed):
            raise IndexerError(403, "IP_NOT_ALLOWED", "Access denied: this route is internal")


def _text(params: dict[str, Any], key: str, *, required: bool = True, limit: int = 8192) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise IndexerError(400, "VALIDATION_ERROR", f"{key} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise IndexerError(400, "VALIDATION_ERROR", f"{key} must be a string of at most {limit} characters")
    return value


class AuthenticateResource:
    def __init__(self, system: System, peers: PeerCheck) -> None:
        self.system, self.peers = system, peers

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.peers.require(req)
        params = req.context.params
        username = _text(params, "username", limit=256)
        message = _text(params, "message")
        signature = _text(params, "signature", required=False, limit=512) or _text(params, "password", limit=512)
        signer = _text(params, "signer", required=False, limit=64)
        referrer = _text(params, "referrer", required=False, limit=64)
        assert username is not None and message is not None and signature is not None
        rate_limited(self.system, f"wallet:{(signer or username).lower()}")
        with refusals_as_401():
            login = identity_of(self.system).verify_wallet_login(
                username, message, signature, signer, via="indexer", referrer=referrer
            )
        reward_sign_in(self.system, login.signer or login.wallet)
        resp.media = envelope(
            {
                "message": "Authentication successful",
                "username": login.username,
                "walletAddress": login.wallet.address,
                "chainType": login.wallet.chain_type,
            }
        )


class VerifyResource:
    """`POST /addresses/:address/verify`: headers `x-message` (URL-encoded) + `x-signature`, or the
    legacy body `{walletAddress, signature, message}`."""

    def __init__(self, system: System, peers: PeerCheck) -> None:
        self.system, self.peers = system, peers

    def on_post(self, req: falcon.Request, resp: falcon.Response, address: str) -> None:
        self.peers.require(req)
        wallet = parse_wallet(address)
        if wallet is None:
            raise IndexerError(400, "INVALID_WALLET_ADDRESS", "Invalid wallet address")
        params = req.context.params
        raw_message, signature = req.get_header("x-message"), req.get_header("x-signature")
        if raw_message and signature:
            try:
                message = unquote(raw_message, errors="strict")
            except UnicodeDecodeError:
                raise IndexerError(401, "INVALID_MESSAGE", "x-message is not URL-encoded UTF-8") from None
        else:
            message, signature = _text(params, "message"), _text(params, "signature", limit=512)
            named = params.get("walletAddress")
            if named not in (None, "") and parse_wallet(named) != wallet:
                raise IndexerError(400, "VALIDATION_ERROR", "walletAddress does not match the path")
        assert message is not None and signature is not None
        if not verify_signature(wallet, message, signature.replace("\r", "").replace("\n", "")):
            raise IndexerError(401, "INVALID_SIGNATURE", "Invalid signature")
        resp.media = {**envelope({"success": True, "walletAddress": wallet.address}), "success": True}


class LegacyVerifyResource:
    """The August 2025 contract: `POST /verify {walletAddress, signature, message}` -> `{isValid}`."""

    def __init__(self, peers: PeerCheck) -> None:
        self.peers = peers

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.peers.require(req)
        params = req.context.params
        wallet = parse_wallet(params.get("walletAddress"))
        message, signature = _text(params, "message"), _text(params, "signature", limit=512)
        assert message is not None and signature is not None
        valid = wallet is not None and verify_signature(wallet, message, signature)
        resp.media = {**envelope({"isValid": valid}), "isValid": valid}


def add_routes(idx: Router, system: System) -> None:
    peers = PeerCheck(identity_settings(system.settings))
    add_everywhere(idx, "/authenticate", AuthenticateResource(system, peers))
    add_everywhere(idx, "/addresses/{address}/verify", VerifyResource(system, peers))
    add_everywhere(idx, "/verify", LegacyVerifyResource(peers))
