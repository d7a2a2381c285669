"""What the service knows of a wallet as a user: when it first signed in, each login, and the one
referral it consumed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id


class WalletAccount(Aggregate):
    @staticmethod
    def create_id(wallet: str) -> UUID:
        return natural_id("identity:wallet", wallet)

    @event("FirstSeen")
    def __init__(self, wallet: str, chain_type: str, seen_at: datetime) -> None:
        self.wallet, self.chain_type, self.seen_at = wallet, chain_type, seen_at
        self.first_authenticated_at: datetime | None = None
        self.referral_code: str | None = None

    def authenticated(self, at: datetime) -> None:
        if self.first_authenticated_at is None:
            self._first_authenticated(at=at)

    @event("FirstAuthenticated")
    def _first_authenticated(self, at: datetime) -> None:
        self.first_authenticated_at = at

    def consume_referral(self, code: str, at: datetime) -> bool:
        """Record the referral that brought this wallet; only the first one counts."""
        if self.referral_code is not None:
            return False
        self._referral_consumed(wallet=self.wallet, chain_type=self.chain_type, code=code, at=at)
        return True

    @event("ReferralConsumed")
    def _referral_consumed(self, wallet: str, chain_type: str, code: str, at: datetime) -> None:
        self.referral_code = code


class Login(Aggregate):
    """One successful wallet sign-in (its own aggregate, so a busy wallet's history never slows it down)."""

    @event("Recorded")
    def __init__(self, wallet: str, chain_type: str, username: str, via: str, at: datetime) -> None:
        self.wallet, self.chain_type, self.username, self.via, self.at = wallet, chain_type, username, via, at
