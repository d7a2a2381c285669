"""The Mailer program's instruction table (`programs/mailer/src/lib.rs`, the enum order of the
2025-12-01 deployments): instruction data is a one-byte variant index followed by its Borsh fields.

Transactions sent to older deployments, whose enum had fewer variants, are not decoded by this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainmail.indexer.solana.borsh import BorshReader, BorshWriter, UndecodableInstruction


@dataclass(frozen=True)
class InstructionSpec:
    index: int
    name: str
    fields: tuple[tuple[str, str], ...]  # (name, Borsh kind) in wire order
    accounts: int  # how many leading accounts the decoder reads (signer first)


def _spec(index: int, name: str, *fields: tuple[str, str], accounts: int = 1) -> InstructionSpec:
    return InstructionSpec(index, name, tuple(fields), accounts)


_TO = ("to", "pubkey")
_RS = ("revenueShareToReceiver", "bool")
_RN = ("resolveSenderToName", "bool")

INSTRUCTIONS: tuple[InstructionSpec, ...] = (
    _spec(0, "Initialize", ("usdcMint", "pubkey")),
    _spec(1, "Send", _TO, ("subject", "string"), ("body", "string"), _RS, _RN),
    _spec(2, "SendPrepared", _TO, ("mailId", "string"), _RS, _RN),
    _spec(3, "SendToEmail", ("toEmail", "string"), ("subject", "string"), ("body", "string")),
    _spec(4, "SendPreparedToEmail", ("toEmail", "string"), ("mailId", "string")),
    _spec(5, "SendThroughWebhook", _TO, ("webhookId", "string"), _RS, _RN),
    _spec(6, "ClaimRecipientShare"),
    _spec(7, "ClaimOwnerShare"),
    _spec(8, "SetFee", ("newFee", "u64")),
    # the delegation account (a PDA of the delegator) is the second account: rejections name only it
    _spec(9, "DelegateTo", ("delegate", "option_pubkey"), accounts=2),
    _spec(10, "RejectDelegation", accounts=2),
    _spec(11, "SetDelegationFee", ("newFee", "u64")),
    _spec(12, "SetCustomFeePercentage", ("account", "pubkey"), ("percentage", "u8")),
    _spec(13, "ClearCustomFeePercentage", ("account", "pubkey")),
    _spec(14, "Pause"),
    _spec(15, "Unpause"),
    _spec(16, "DistributeClaimableFunds", ("recipient", "pubkey")),
    _spec(17, "ClaimExpiredShares", ("recipient", "pubkey")),
    _spec(18, "EmergencyUnpause"),
    _spec(19, "SetFeePaused", ("feePaused", "bool")),
)
BY_INDEX = {spec.index: spec for spec in INSTRUCTIONS}
BY_NAME = {spec.name: spec for spec in INSTRUCTIONS}


@dataclass(frozen=True)
class Instruction:
    name: str
    args: dict[str, Any]
    accounts: tuple[str, ...]  # the leading accounts the table names (signer first)


def decode_instruction(data: bytes, accounts: list[str]) -> Instruction:
    """The instruction `data` encodes; UndecodableInstruction for anything the table does not fit."""
    if not data:
        raise UndecodableInstruction("empty instruction data")
    spec = BY_INDEX.get(data[0])
    if spec is None:
        raise UndecodableInstruction(f"unknown Mailer instruction variant {data[0]}")
    reader = BorshReader(data[1:])
    args = {name: getattr(reader, kind)() for name, kind in spec.fields}
    reader.done()
    if len(accounts) < spec.accounts:
        raise UndecodableInstruction(f"{spec.name} needs {spec.accounts} accounts, got {len(accounts)}")
    return Instruction(spec.name, args, tuple(accounts[: spec.accounts]))


def encode_instruction(name: str, **args: Any) -> bytes:
    """Instruction data for `name` with `args` (synthetic transactions and tests)."""
    spec = BY_NAME[name]
    writer = BorshWriter().u8(spec.index)
    for field, kind in spec.fields:
        getattr(writer, kind)(args[field])
    return writer.bytes()
