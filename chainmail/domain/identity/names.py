"""Which wallet or name a username is: the indexer's Web3 username rules (first match wins)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chainmail.domain.identity.signatures import BASE58, EVM_ADDRESS, ChainType

SNS_TLDS = frozenset(
    {"sol", "abc", "backpack", "bonk", "coin", "dao", "defi", "gm", "poor", "pump", "shdw", "stepn", "web3"}
)
ENS_TLDS = frozenset({"eth", "box"})
# One label: letters and digits, single hyphens inside, none at either end.
_LABEL = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Username:
    """A valid username: a wallet address, or a name (whose owner is found elsewhere)."""

    chain_type: ChainType
    wallet_address: str | None
    name: str | None

    @property
    def normalized(self) -> str:
        return self.name or self.wallet_address or ""


def validate_username(text: object) -> Username | None:
    if not isinstance(text, str) or not text or len(text) > 256:
        return None
    if EVM_ADDRESS.match(text):
        return Username("evm", text.lower(), None)
    if not text.startswith("0x") and BASE58.match(text):
        return Username("solana", text, None)
    lowered = text.lower()
    if lowered.endswith((".eth", ".box")) and len(lowered) >= 5:
        label = lowered[:-4]
        if _LABEL.match(label):
            return Username("evm", None, lowered)
        return None
    parts = lowered.split(".")
    if len(parts) == 2 and parts[1] in SNS_TLDS and _LABEL.match(parts[0]):
        return Username("solana", None, lowered)
    return None
