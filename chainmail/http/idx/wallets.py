"""`/wallets/:walletAddress/...`: the sign-in message (public), and with a wallet signature: whether it
has signed in, its e-mail accounts and its nameservice entitlement."""

from __future__ import annotations

import re
from typing import Any

import falcon

from chainmail.domain.identity.signatures import Wallet, parse_wallet
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import (
    add_everywhere,
    envelope,
    identity_of,
    path_wallet,
    rate_limited,
    signed_wallet,
)
from chainmail.http.router import Router
from chainmail.identity.revenuecat import Entitlement, EntitlementUnavailable
from chainmail.identity.wiring import wire
from chainmail.rewards.awards import reward_referral
from chainmail.system import System

# A domain or URI goes into the signed text on a line of its own: no spaces or line breaks.
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S{1,2000}$")
_REFERRAL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MessageResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        params = req.context.params
        domain, uri, chain = params.get("domain"), params.get("url"), params.get("chainId")
        if not isinstance(domain, str) or not _DOMAIN.match(domain):
            raise IndexerError(400, "INVALID_DOMAIN", "domain must be a host name")
        if not isinstance(uri, str) or not _URI.match(uri):
            raise IndexerError(400, "INVALID_URL", "url must be an absolute URL")
        chain_id: int | None = None
        if chain not in (None, ""):
            if not isinstance(chain, str) or not re.fullmatch(r"-?\d{1,20}", chain.strip()):
                raise IndexerError(400, "INVALID_CHAIN_ID", "chainId must be an integer")
            chain_id = int(chain)
        elif wallet.chain_type == "evm":
            chain_id = 1
        identity = identity_of(self.system)
        if not identity.accepts_domain(domain):
            raise IndexerError(400, "DOMAIN_NOT_ALLOWED", "This domain may not ask for sign-in messages")
        text, nonce = identity.sign_in_message(wallet, domain=domain, uri=uri, chain_id=chain_id)
        data: dict[str, Any] = {
            "walletAddress": wallet.address,
            "chainType": wallet.chain_type,
            "message": text,
            "nonce": nonce.nonce,
            "issuedAt": nonce.issued_at,
        }
        if wallet.chain_type == "evm":
            data["chainId"] = chain_id
        resp.media = envelope(data)


class AuthenticatedResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        identity = identity_of(self.system)
        signed_wallet(req, identity, wallet, allow_delegate=True)
        first = identity.first_authentication(wallet)
        resp.media = envelope({"authenticated": first is not None, "datetime": first})


def _entitled(system: System, wallet: Wallet) -> bool:
    try:
        found = wire(system, identity_of(system)).entitlements.entitlement(wallet.address)
    except EntitlementUnavailable:
        return False
    return found.has_entitlement and found.is_active


class AccountsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _account(self, wallet: Wallet) -> dict[str, Any]:
        directory = identity_of(self.system).directory
        domain = self.system.settings.email_domain
        names = directory.names_of(wallet.address)
        entitled = _entitled(self.system, wallet) if names else False
        return {
            "walletAddress": wallet.address,
            "chainType": wallet.chain_type,
            "email": f"{wallet.address}@{domain}",
            "names": [
                {"name": n.name, "email": f"{n.name}@{domain}", "service": n.service, "entitled": entitled}
                for n in names
            ],
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        identity = identity_of(self.system)
        signed_wallet(req, identity, wallet, allow_delegate=True)
        referral = (req.get_header("x-referral") or "").strip()
        # Once per wallet; unknown codes and the wallet's own are ignored.
        if referral and _REFERRAL.match(referral) and identity.consume_referral(wallet, referral):
            reward_referral(self.system, wallet)
        accounts = [self._account(wallet)]
        for delegator in identity.directory.delegators_of(wallet.address):
            other = parse_wallet(delegator)
            if other is not None and other != wallet:
                accounts.append({**self._account(other), "delegated": True})
        resp.media = envelope({"accounts": accounts})


def _entitlement_data(wallet: Wallet, found: Entitlement, entitlement_id: str) -> dict[str, Any]:
    entitlement: dict[str, Any] = {
        "type": entitlement_id,
        "hasEntitlement": found.has_entitlement,
        "isActive": found.is_active,
    }
    for key, value in (
        ("productIdentifier", found.product_identifier),
        ("expiresDate", found.expires_date),
        ("store", found.store),
    ):
        if value is not None:
            entitlement[key] = value
    if not found.configured:
        message = "Entitlements are not configured"
    elif found.is_active:
        message = "Active entitlement"
    elif found.has_entitlement:
        message = "Entitlement expired"
    else:
        message = "No entitlement"
    return {
        "walletAddress": wallet.address,
        "chainType": wallet.chain_type,
        "entitlement": entitlement,
        "message": message,
        "verified": True,
    }


class EntitlementsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        identity = identity_of(self.system)
        signed_wallet(req, identity, wallet, allow_delegate=True)
        rate_limited(self.system, f"wallet:{wallet.address}")
        adapters = wire(self.system, identity)
        try:
            found = adapters.entitlements.entitlement(wallet.address)
        except EntitlementUnavailable as error:
            raise IndexerError(503, "ENTITLEMENT_UNAVAILABLE", str(error)) from None
        resp.media = envelope(_entitlement_data(wallet, found, adapters.settings.revenuecat_entitlement))


def add_routes(idx: Router, system: System) -> None:
    add_everywhere(idx, "/wallets/{walletAddress}/message", MessageResource(system))
    add_everywhere(idx, "/wallets/{walletAddress}/authenticated", AuthenticatedResource(system))
    add_everywhere(idx, "/wallets/{walletAddress}/accounts", AccountsResource(system))
    entitlements = EntitlementsResource(system)
    add_everywhere(idx, "/wallets/{walletAddress}/entitlements", entitlements)
    add_everywhere(idx, "/wallets/{walletAddress}/entitlements/", entitlements)
