"""Awarding points, for every caller: `award()` (the points route, the delivery of a submitted message)
and the awards that follow a wallet's sign-in and the referral that brought it.

Sign-in and referral awards are one-time awards keyed by wallet, so calling them again is harmless: a
sign-in whose awards were lost (a crash between the identity and the rewards save) gets them at the next.
"""

from __future__ import annotations

from typing import Any

import structlog

from chainmail.domain.errors import Invalid
from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.signatures import Wallet, parse_wallet
from chainmail.domain.rewards.application import Award, Rewards

log = structlog.get_logger(__name__)


def award(system: Any, wallet_address: str, action: str, *, referrer: str | None = None) -> Award:
    """Give `wallet_address` the points for `action` (send, reply, forward, ...).

    Raises Invalid (400) for an address that is not a wallet or an unknown action, DailyCapReached (429)
    past the daily cap of mail actions. A `referrer` code is consumed for the wallet (once; unknown codes
    and the wallet's own are ignored).
    """
    wallet = parse_wallet(wallet_address)
    if wallet is None:
        raise Invalid("INVALID_WALLET_ADDRESS", "Invalid wallet address")
    rewards = system.context(Rewards)
    rewards.table.amount(action)  # an unknown action is refused before anything is recorded
    if referrer and system.context(Identity).consume_referral(wallet, referrer):
        reward_referral(system, wallet)
    return rewards.award(wallet.address, wallet.chain_type, action)


def reward_sign_in(system: Any, wallet: Wallet) -> None:
    """After a successful sign-in: the wallet's first-login points, and its referrer's points (once each)."""
    try:
        rewards = system.context(Rewards)
        if "first_login" in rewards.table.amounts:
            rewards.award(wallet.address, wallet.chain_type, "first_login", once="first_login")
        reward_referral(system, wallet)
    except Exception:
        # The sign-in stands; the next one retries the awards (they are keyed, so never given twice).
        log.exception("sign-in rewards failed", wallet=wallet.address)


def reward_referral(system: Any, wallet: Wallet) -> None:
    """The referrer earns its points once the wallet it brought has both consumed its code and signed in."""
    identity = system.context(Identity)
    rewards = system.context(Rewards)
    if "referral" not in rewards.table.amounts:
        return
    referrer = identity.signed_in_referrer(wallet)
    if referrer is None:
        return
    rewards.award(
        referrer.address, referrer.chain_type, "referral", once=f"referral:{wallet.address}", reason=wallet.address
    )
