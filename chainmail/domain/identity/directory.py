"""What the identity context asks the rest of the world: who owns a name, who delegated to whom, and
whether a wallet holds the nameservice entitlement. Adapters live outside the domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OwnedName:
    name: str
    service: str  # ens | sns | 3dns


class WalletDirectory(Protocol):
    def owner_of(self, name: str) -> str | None:
        """The wallet (canonical address) that owns an ENS/SNS/3DNS name, if known."""
        ...

    def names_of(self, wallet: str) -> list[OwnedName]: ...

    def delegate_of(self, wallet: str) -> str | None:
        """The wallet `wallet` has actively delegated to, if any."""
        ...

    def delegators_of(self, wallet: str) -> list[str]:
        """Wallets that actively delegated to `wallet`."""
        ...


class EmptyDirectory:
    """No names and no delegations: what a process knows before any adapter is wired."""

    def owner_of(self, name: str) -> str | None:
        return None

    def names_of(self, wallet: str) -> list[OwnedName]:
        return []

    def delegate_of(self, wallet: str) -> str | None:
        return None

    def delegators_of(self, wallet: str) -> list[str]:
        return []
