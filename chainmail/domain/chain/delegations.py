"""The delegation rule the Mailer contract does not enforce on chain."""

from __future__ import annotations

from typing import Literal

ZERO_ADDRESS = "0x" + "00" * 20

Effect = Literal["set", "cleared", "ignored"]


def delegation_effect(current_delegate: str | None, delegator: str, delegate: str, tx_from: str | None) -> Effect:
    """What a `DelegationSet(delegator, delegate)` log does to the delegator's current delegation.

    A non-zero delegate is set by the delegator itself (`delegateTo`). A zero delegate clears: either the
    delegator cleared it, or `rejectDelegation(delegator)` was sent by someone; the contract checks
    nothing then, so a rejection counts only when its sender is the current delegate.
    """
    if delegate != ZERO_ADDRESS:
        return "set"
    if current_delegate is None:
        return "ignored"
    sender = (tx_from or "").lower()
    if sender in (delegator.lower(), current_delegate.lower()):
        return "cleared"
    return "ignored"
