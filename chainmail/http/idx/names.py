"""Names on the indexer API: a wallet's ENS/SNS/3DNS names (signed by the wallet or its delegate) and a
name resolved to the wallet that owns it (public), from the 3DNS read model and the configured resolvers."""

from __future__ import annotations

import falcon

from chainmail.domain.identity.signatures import parse_wallet
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, path_wallet, signed_wallet
from chainmail.http.idx.users import username_or_400
from chainmail.http.router import Router
from chainmail.system import System


class WalletNamesResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        identity = identity_of(self.system)
        signed_wallet(req, identity, wallet, allow_delegate=True)
        owned = identity.directory.names_of(wallet.address)
        # `names` as the client's IndexerNameServiceData has it (strings); `services` says where each is from.
        resp.media = envelope(
            {
                "walletAddress": wallet.address,
                "chainType": wallet.chain_type,
                "names": [n.name for n in owned],
                "services": [{"name": n.name, "service": n.service} for n in owned],
            }
        )


class NamedWalletResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        found = username_or_400(name)
        if found.name is None:
            raise IndexerError(400, "INVALID_NAME", "Not an ENS, SNS or 3DNS name")
        owner = identity_of(self.system).directory.owner_of(found.name)
        wallet = parse_wallet(owner) if owner else None
        if wallet is None:
            raise IndexerError(404, "NAME_NOT_FOUND", "The name has no known owner")
        resp.media = envelope({"walletAddress": wallet.address, "chainType": wallet.chain_type, "name": found.name})


def add_routes(idx: Router, system: System) -> None:
    add_everywhere(idx, "/wallets/{walletAddress}/names", WalletNamesResource(system))
    add_everywhere(idx, "/wallets/named/{name}", NamedWalletResource(system))
