"""`/users/:username/validate` (public) and `/users/:username/nonce` (wallet signature)."""

from __future__ import annotations

import falcon

from chainmail.domain.identity.names import Username, validate_username
from chainmail.domain.identity.signatures import Wallet, parse_wallet
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, rate_limited, signed_wallet
from chainmail.http.router import Router
from chainmail.system import System


def username_or_400(text: str) -> Username:
    username = validate_username(text)
    if username is None:
        raise IndexerError(400, "INVALID_USERNAME", "Invalid username")
    return username


class ValidateResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        found = username_or_400(username)
        wallet = found.wallet_address
        if wallet is None and found.name is not None:
            wallet = identity_of(self.system).directory.owner_of(found.name)
        resp.media = envelope(
            {
                "walletAddress": wallet,
                "chainType": found.chain_type,
                "name": found.name,
                "isValid": True,
                "normalized": found.normalized,
            }
        )


class NonceResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _account(self, username: str) -> tuple[str, Wallet]:
        """The wallet whose nonce this is and which must sign for it (a name's owner): one nonce per wallet."""
        found = username_or_400(username)
        owner = found.wallet_address or identity_of(self.system).directory.owner_of(found.name or "")
        wallet = parse_wallet(owner) if owner else None
        if wallet is None:
            raise IndexerError(404, "NAME_NOT_FOUND", "The name has no known owner")
        return wallet.address, wallet

    def on_get(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        key, wallet = self._account(username)
        identity = identity_of(self.system)
        signed_wallet(req, identity, wallet)
        current = identity.current_nonce(key)
        if current is None:
            raise IndexerError(404, "NONCE_NOT_FOUND", "No nonce for this user")
        resp.media = envelope({"nonce": current.nonce, "createdAt": current.issued_at})

    def on_post(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        key, wallet = self._account(username)
        identity = identity_of(self.system)
        rate_limited(self.system, f"wallet:{wallet.address}")
        signed_wallet(req, identity, wallet)
        issued = identity.replace_nonce(key)
        resp.media = envelope({"nonce": issued.nonce, "createdAt": issued.issued_at})


def add_routes(idx: Router, system: System) -> None:
    add_everywhere(idx, "/users/{username}/validate", ValidateResource(system))
    add_everywhere(idx, "/users/{username}/nonce", NonceResource(system))
