"""Real Solana transactions calling the Mailer program, signed with real keypairs and wrapped as Helius
delivers them (raw and enhanced): for `POST /solana/test-transaction` in development, and for tests.

The program's own effects are not executed (there is no validator here); its log lines are written as
the program writes them, so `fee paid` is read the way it is from a real delivery."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from chainmail.indexer.solana.borsh import b58encode
from chainmail.indexer.solana.program import encode_instruction

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")


def delegation_account(program_id: str, delegator: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"delegation", b"\x01", bytes(delegator)], Pubkey.from_string(program_id))[0]


def claim_account(program_id: str, recipient: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"claim", b"\x01", bytes(recipient)], Pubkey.from_string(program_id))[0]


def _log_line(name: str, signer: str, args: dict[str, Any], fee_paid: bool) -> str | None:
    paid = "true" if fee_paid else "false"
    if name in ("Send", "SendPrepared", "SendThroughWebhook"):
        kind = "Priority" if args.get("revenueShareToReceiver") else "Standard"
        what = {"Send": "mail", "SendPrepared": "prepared mail", "SendThroughWebhook": "webhook mail"}[name]
        detail = {"Send": f": {args.get('subject')}", "SendPrepared": "", "SendThroughWebhook": ""}[name]
        ids = f" (mailId: {args['mailId']}," if "mailId" in args else ""
        ids = ids or (f" (webhookId: {args['webhookId']}," if "webhookId" in args else " (")
        resolve = "true" if args.get("resolveSenderToName") else "false"
        return (
            f"{kind} {what} sent from {signer} payer {signer} to {args['to']}{detail}{ids}"
            f"resolve sender: {resolve}, effective fee: 100000, fee paid: {paid})"
        )
    if name == "SendToEmail":
        return (
            f"Mail sent from {signer} payer {signer} to email {args['toEmail']}: {args['subject']} (fee paid: {paid})"
        )
    if name == "SendPreparedToEmail":
        return (
            f"Prepared mail sent from {signer} to email {args['toEmail']} (mailId: {args['mailId']}, fee paid: {paid})"
        )
    if name == "DelegateTo":
        target = f"Some({args['delegate']})" if args.get("delegate") else "None"
        return f"Delegation set from {signer} to {target}"
    if name == "RejectDelegation":
        return f"Delegation rejected by {signer}"
    return None


@dataclass
class MailerTransaction:
    """One signed transaction with one Mailer instruction (optionally called through another program)."""

    program_id: str
    signer: Keypair
    instruction: str
    args: dict[str, Any]
    accounts: list[Pubkey]  # after the signer
    slot: int = 1
    block_time: int = 1_700_000_000
    fee_paid: bool | None = True  # None: the program wrote no fee line
    failed: bool = False
    through: Pubkey | None = None  # a program that calls the Mailer by CPI (an inner instruction)
    extra_logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        program = Pubkey.from_string(self.program_id)
        data = encode_instruction(self.instruction, **self.args)
        metas = [AccountMeta(self.signer.pubkey(), True, True)]
        metas += [AccountMeta(a, False, True) for a in self.accounts]
        self.mailer_ix = Instruction(program, data, metas)
        if self.through is not None:
            outer = Instruction(self.through, b"\x01" + data, [*metas, AccountMeta(program, False, False)])
        else:
            outer = self.mailer_ix
        blockhash = Hash.new_unique()
        self.message = Message.new_with_blockhash([outer], self.signer.pubkey(), blockhash)
        self.transaction = Transaction([self.signer], self.message, blockhash)
        self.signature = str(self.transaction.signatures[0])

    def logs(self) -> list[str]:
        mailer, depth = self.program_id, 2 if self.through else 1
        lines = [f"Program {self.through} invoke [1]"] if self.through else []
        lines.append(f"Program {mailer} invoke [{depth}]")
        # the fee moves by CPI to the token program before the program logs the mail
        lines += [f"Program {TOKEN_PROGRAM} invoke [{depth + 1}]", "Program log: Instruction: Transfer"]
        lines.append(f"Program {TOKEN_PROGRAM} success")
        line = _log_line(self.instruction, str(self.signer.pubkey()), self.args, bool(self.fee_paid))
        if line is not None and (self.fee_paid is not None or "fee paid" not in line):
            lines.append(f"Program log: {line}")
        lines += [f"Program log: {extra}" for extra in self.extra_logs]
        lines.append(f"Program {mailer} consumed 21000 of 200000 compute units")
        lines.append(
            f"Program {mailer} failed: custom program error: 0xb" if self.failed else f"Program {mailer} success"
        )
        if self.through and not self.failed:
            lines.append(f"Program {self.through} success")
        return lines

    def _compiled(self, ix: Instruction) -> dict[str, Any]:
        keys = list(self.message.account_keys)
        return {
            "programIdIndex": keys.index(ix.program_id),
            "accounts": [keys.index(m.pubkey) for m in ix.accounts],
            "data": b58encode(bytes(ix.data)),
        }

    def raw(self) -> dict[str, Any]:
        """The item of a `raw` webhook delivery (the getTransaction JSON)."""
        header = self.message.header
        compiled = [
            {"programIdIndex": c.program_id_index, "accounts": list(c.accounts), "data": b58encode(bytes(c.data))}
            for c in self.message.instructions
        ]
        inner = [{"index": 0, "instructions": [{**self._compiled(self.mailer_ix), "stackHeight": 2}]}]
        return {
            "slot": self.slot,
            "blockTime": self.block_time,
            "indexWithinBlock": 0,
            "version": "legacy",
            "meta": {
                "err": {"InstructionError": [0, {"Custom": 11}]} if self.failed else None,
                "fee": 5000,
                "logMessages": self.logs(),
                "innerInstructions": inner if self.through else [],
                "preBalances": [],
                "postBalances": [],
            },
            "transaction": {
                "signatures": [self.signature],
                "message": {
                    "accountKeys": [str(k) for k in self.message.account_keys],
                    "header": {
                        "numRequiredSignatures": header.num_required_signatures,
                        "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                        "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
                    },
                    "recentBlockhash": str(self.message.recent_blockhash),
                    "instructions": compiled,
                },
            },
        }

    def enhanced(self) -> dict[str, Any]:
        """The item of an `enhanced` webhook delivery (no log lines: the fee is not known from it)."""

        def plain(ix: Instruction) -> dict[str, Any]:
            return {
                "programId": str(ix.program_id),
                "accounts": [str(m.pubkey) for m in ix.accounts],
                "data": b58encode(bytes(ix.data)),
            }

        top = self.message.instructions[0]
        keys = list(self.message.account_keys)
        outer = {
            "programId": str(keys[top.program_id_index]),
            "accounts": [str(keys[i]) for i in top.accounts],
            "data": b58encode(bytes(top.data)),
            "innerInstructions": [plain(self.mailer_ix)] if self.through else [],
        }
        return {
            "signature": self.signature,
            "slot": self.slot,
            "timestamp": self.block_time,
            "type": "UNKNOWN",
            "source": "UNKNOWN",
            "description": "",
            "fee": 5000,
            "feePayer": str(self.signer.pubkey()),
            "nativeTransfers": [],
            "tokenTransfers": [],
            "accountData": [],
            "transactionError": {"error": "custom program error: 0xb"} if self.failed else None,
            "instructions": [outer],
            "events": {},
        }


def random_key() -> Pubkey:
    return Keypair().pubkey()


EVENT_TYPES = (
    "mail_sent",
    "prepared_mail_sent",
    "mail_sent_to_email",
    "prepared_mail_sent_to_email",
    "webhook_mail_sent",
    "delegation_set",
    "delegation_cleared",
)


def synthetic(program_id: str, event_type: str, slot: int, block_time: int) -> MailerTransaction:
    """A transaction from a fresh keypair doing `event_type` (one of EVENT_TYPES)."""
    signer, to = Keypair(), random_key()
    tag = secrets.token_hex(4)
    claim = claim_account(program_id, to)
    mail_accounts = [claim, random_key(), random_key(), random_key(), TOKEN_PROGRAM, SYSTEM_PROGRAM]
    email_accounts = [random_key(), random_key(), random_key(), TOKEN_PROGRAM]
    delegation = [delegation_account(program_id, signer.pubkey()), random_key(), random_key(), random_key()]
    flags = {"revenueShareToReceiver": False, "resolveSenderToName": False}
    table: dict[str, tuple[str, dict[str, Any], list[Pubkey]]] = {
        "mail_sent": ("Send", {"to": str(to), "subject": f"Test {tag}", "body": "synthetic", **flags}, mail_accounts),
        "prepared_mail_sent": ("SendPrepared", {"to": str(to), "mailId": f"test-{tag}", **flags}, mail_accounts),
        "mail_sent_to_email": (
            "SendToEmail",
            {"toEmail": f"test-{tag}@example.com", "subject": f"Test {tag}", "body": "synthetic"},
            email_accounts,
        ),
        "prepared_mail_sent_to_email": (
            "SendPreparedToEmail",
            {"toEmail": f"test-{tag}@example.com", "mailId": f"test-{tag}"},
            email_accounts,
        ),
        "webhook_mail_sent": (
            "SendThroughWebhook",
            {"to": str(to), "webhookId": f"hook-{tag}", **flags},
            mail_accounts,
        ),
        "delegation_set": ("DelegateTo", {"delegate": str(to)}, delegation),
        "delegation_cleared": ("DelegateTo", {"delegate": None}, delegation),
    }
    name, args, accounts = table[event_type]
    return MailerTransaction(program_id, signer, name, args, accounts, slot=slot, block_time=block_time)
