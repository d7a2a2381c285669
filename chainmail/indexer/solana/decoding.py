"""Helius transactions to Mailer calls: failed transactions skipped, instruction data decoded with the
program's table, `fee paid` read from the instruction's own log line."""

from __future__ import annotations

import re
from collections.abc import Sequence

from chainmail.domain.chain.solana import MailerCall
from chainmail.indexer.solana.borsh import UndecodableInstruction
from chainmail.indexer.solana.payloads import BadDelivery, ProgramCall, Transaction
from chainmail.indexer.solana.program import decode_instruction

_FEE_PAID = re.compile(r"\bfee paid: (true|false)\b")


def fee_paid(logs: list[str] | None) -> bool | None:
    """What the program logged about the fee (`... fee paid: true)`), or None when it is not known."""
    for line in logs or ():
        match = _FEE_PAID.search(line)
        if match:
            return match[1] == "true"
    return None


def mailer_calls(transactions: Sequence[Transaction], program_id: str) -> list[MailerCall]:
    """Every Mailer call of the successful transactions; BadDelivery names the first undecodable one."""
    calls = []
    for position, tx in enumerate(transactions):
        if tx.failed:
            continue
        for call in tx.calls:
            calls.append(_decoded(tx, call, program_id, position))
    return calls


def _decoded(tx: Transaction, call: ProgramCall, program_id: str, position: int) -> MailerCall:
    try:
        instruction = decode_instruction(call.data, call.accounts)
    except UndecodableInstruction as error:
        raise BadDelivery(f"[{position}] {tx.signature} instruction {call.path}: {error}") from None
    return MailerCall(
        signature=tx.signature,
        path=call.path,
        slot=tx.slot,
        block_time=tx.block_time,
        index_in_block=tx.index_in_block,
        program_id=program_id,
        instruction=instruction.name,
        args=instruction.args,
        accounts=instruction.accounts,
        fee_paid=fee_paid(call.logs),
    )
