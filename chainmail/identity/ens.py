"""ENS names through web3's ENS module against a configured RPC (`identity.ens_rpc_url`): who a name
points to (its `addr` record, via the universal resolver) and the name a wallet's reverse record names
(web3 checks it resolves forward to the same wallet). Any failure means "unknown", never an error."""

from __future__ import annotations

import structlog
from ens import ENS
from eth_utils import to_checksum_address
from web3 import Web3

from chainmail.domain.identity.directory import OwnedName

log = structlog.get_logger(__name__)


class EnsResolver:
    def __init__(self, rpc_url: str, *, timeout: float = 5.0) -> None:
        self.ns = ENS(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))

    def owner_of(self, name: str) -> str | None:
        if not name.lower().endswith((".eth", ".box")):
            return None
        try:
            address = self.ns.address(name)
        except Exception as error:  # unreachable node, bad answer, unsupported name: not resolved
            log.info("ens lookup failed", name=name, error=str(error)[:200])
            return None
        return address.lower() if address else None

    def names_of(self, wallet: str) -> list[OwnedName]:
        if not wallet.startswith("0x"):
            return []
        try:
            name = self.ns.name(to_checksum_address(wallet))
        except Exception as error:
            log.info("ens reverse lookup failed", wallet=wallet, error=str(error)[:200])
            return []
        return [OwnedName(name.lower(), "ens")] if name else []
