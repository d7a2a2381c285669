"""Referral codes: one per wallet, issued on first request and never changed. A code is its own aggregate
(keyed by the code) so two wallets can never hold the same one; the wallet's claim is keyed by the wallet
so it holds only one."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id

CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CODE_LENGTH = 9
CODE = re.compile(r"^[A-Z0-9]{9}$")


def new_code(randbytes: Callable[[int], bytes]) -> str:
    """9 characters of [A-Z0-9], each drawn without modulo bias from the injected randomness."""
    chars: list[str] = []
    while len(chars) < CODE_LENGTH:
        for byte in randbytes(16):
            if byte < 252:  # 252 = 7 * 36: the largest multiple of 36 a byte holds
                chars.append(CODE_ALPHABET[byte % 36])
                if len(chars) == CODE_LENGTH:
                    break
    return "".join(chars)


class ReferralCode(Aggregate):
    @staticmethod
    def create_id(code: str) -> UUID:
        return natural_id("identity:referral-code", code)

    @event("Issued")
    def __init__(self, code: str, wallet: str, chain_type: str, at: datetime) -> None:
        self.code, self.wallet, self.chain_type, self.at = code, wallet, chain_type, at


class ReferralCodeClaim(Aggregate):
    """Which code a wallet holds."""

    @staticmethod
    def create_id(wallet: str) -> UUID:
        return natural_id("identity:referral-claim", wallet)

    @event("Claimed")
    def __init__(self, wallet: str, code: str) -> None:
        self.wallet, self.code = wallet, code
