"""The chain context on Solana: the Mailer program's networks, the transactions whose instructions were
recorded (one aggregate per signature, so a redelivery is recognised), each network's cursor (last slot,
and the sequence that numbers its instructions for the chain read models), the delegation accounts that
tell a rejection's delegator, and the Helius webhook's secret (kept as a SHA-256 only).

Instructions are recorded as chain logs (`LogRecord`s in a `LogPage`, Solana chain ids -101/-102/-103) in
the EVM Mailer's terms, so the chain read models serve Solana mails and delegations beside the EVM ones."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eth_utils import keccak
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from chainmail.domain.chain.abi import MAILER, RECOVERED_STRINGS
from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.logs import LogPage, LogRecord
from chainmail.domain.ids import natural_id

SOLANA_ABI = "solana"  # LogRecord.abi_version of records made from Solana instructions


@dataclass(frozen=True)
class SolanaNetwork:
    chain_id: int
    name: str  # the cluster's name
    testnet: bool
    program_id: str  # the Mailer program deployed there
    webhook_type: str | None  # Helius's raw webhook type for the cluster; None: Helius does not serve it


MAINNET, DEVNET, TESTNET = -101, -102, -103
# johnqh/mail_box_contracts DEPLOYED.json; chain ids from johnqh/mail_box_configs (spec §5.1, §11)
SOLANA_NETWORKS: dict[int, SolanaNetwork] = {
    MAINNET: SolanaNetwork(MAINNET, "mainnet-beta", False, "yW7AiuUVdtSDUvExyNtjQDLMLsccnbgAqgZHJYYsqCW", "raw"),
    DEVNET: SolanaNetwork(DEVNET, "devnet", True, "9cq7VQN8gUbJRxEQDhn6daqReCQhKKXAhRbQjVdECcPT", "rawDevnet"),
    TESTNET: SolanaNetwork(TESTNET, "testnet", True, "yW7AiuUVdtSDUvExyNtjQDLMLsccnbgAqgZHJYYsqCW", None),
}
CHAIN_ID_ALIASES = {-1: MAINNET, -2: DEVNET}


def canonical_chain_id(chain_id: int) -> int:
    return CHAIN_ID_ALIASES.get(chain_id, chain_id)


def is_solana_chain(chain_id: int) -> bool:
    return chain_id < 0


@dataclass(frozen=True)
class MailerCall:
    """A decoded, successful invocation of the Mailer program, as the indexer saw it."""

    signature: str
    path: str  # instruction path in the transaction ("2", or "2.0" for an inner instruction)
    slot: int
    block_time: int
    index_in_block: int
    program_id: str
    instruction: str  # the instruction's name in the program's enum
    args: dict[str, Any]
    accounts: tuple[str, ...]  # signer first
    fee_paid: bool | None = None  # from the instruction's log line; None when the payload had no logs


# -- aggregates -------------------------------------------------------------------------------------


class SolanaTransaction(Aggregate):
    """A successful transaction whose Mailer instructions were recorded: a redelivery finds it."""

    @staticmethod
    def create_id(chain_id: int, signature: str) -> UUID:
        return natural_id("solana-transaction", f"{chain_id}:{signature}")

    @event("Observed")
    def __init__(self, chain_id: int, signature: str, slot: int, paths: list[str]) -> None:
        self.paths = paths  # the Mailer instructions recorded, by path ("2", "2.0")


class SolanaCursor(Aggregate):
    """One per network: the highest slot seen and how many instructions were recorded. Every recording
    moves it, so concurrent deliveries conflict on its version and one reruns."""

    @staticmethod
    def create_id(chain_id: int) -> UUID:
        return natural_id("solana-cursor", str(chain_id))

    @event("Started")
    def __init__(self, chain_id: int) -> None:
        self.chain_id, self.slot, self.sequence = chain_id, 0, 0

    def advance(self, slot: int, count: int) -> None:
        self._advanced(chain_id=self.chain_id, to_slot=max(self.slot, slot), first=self.sequence, count=count)

    @event("Advanced")
    def _advanced(self, chain_id: int, to_slot: int, first: int, count: int) -> None:
        self.slot, self.sequence = to_slot, first + count


class SolanaDelegationAccount(Aggregate):
    """The delegation account (a PDA) of one delegator: `RejectDelegation` names only the account."""

    @staticmethod
    def create_id(chain_id: int, account: str) -> UUID:
        return natural_id("solana-delegation-account", f"{chain_id}:{account}")

    @event("Observed")
    def __init__(self, chain_id: int, account: str, delegator: str) -> None:
        self.delegator = delegator


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class SolanaWebhook(Aggregate):
    """The Helius webhook of one network: the secret it sends in `Authorization` (the current one and
    the one before, while Helius switches over) and where it is registered."""

    KEEP_SECRETS = 2

    @staticmethod
    def create_id(chain_id: int) -> UUID:
        return natural_id("solana-webhook", str(chain_id))

    @event("Started")
    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.digests: list[str] = []
        self.webhook_id: str | None = None

    def issue_secret(self, secret: str) -> None:
        self._secret_issued(chain_id=self.chain_id, digest=secret_digest(secret))

    @event("SecretIssued")
    def _secret_issued(self, chain_id: int, digest: str) -> None:
        self.digests = [*self.digests, digest][-self.KEEP_SECRETS :]

    def accepts(self, secret: str) -> bool:
        digest = secret_digest(secret)
        return any(hmac.compare_digest(digest, known) for known in self.digests)

    def register(self, webhook_id: str, url: str, webhook_type: str, program_id: str) -> None:
        self._registered(
            chain_id=self.chain_id, webhook_id=webhook_id, url=url, webhook_type=webhook_type, program_id=program_id
        )

    @event("Registered")
    def _registered(self, chain_id: int, webhook_id: str, url: str, webhook_type: str, program_id: str) -> None:
        self.webhook_id = webhook_id


# -- instructions as chain facts ----------------------------------------------------------------------

MAIL_EVENTS = {
    "Send": "MailSent",
    "SendPrepared": "PreparedMailSent",
    "SendToEmail": "MailSentToEmail",
    "SendPreparedToEmail": "PreparedMailSentToEmail",
    "SendThroughWebhook": "WebhookMailSent",
}


def _hash(text: str) -> str:
    return "0x" + keccak(text.encode("utf-8")).hex()


def _text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; a mail's subject or body on chain may.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def mailer_event(call: MailerCall, delegator_of_account: str | None) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(event name, arguments, recovered strings) of a Mailer call, in the EVM Mailer's terms where one
    exists (so the chain read models treat both alike), else under the instruction's own name."""
    signer = call.accounts[0]
    args = {name: _text(value) for name, value in call.args.items()}
    recovered: dict[str, str] = {}
    if call.instruction in MAIL_EVENTS:
        out: dict[str, Any] = {"from": signer, "payer": signer}  # on Solana the sender always pays
        for name, value in args.items():
            if name in RECOVERED_STRINGS:
                recovered[name] = value
                value = _hash(call.args[name])
            out[name] = value
        if call.fee_paid is not None:
            out["feePaid"] = call.fee_paid
        return MAIL_EVENTS[call.instruction], out, recovered
    if call.instruction == "DelegateTo":
        return "DelegationSet", {"delegator": signer, "delegate": args["delegate"] or ZERO_ADDRESS}, recovered
    if call.instruction == "RejectDelegation":
        if delegator_of_account is not None:
            return "DelegationSet", {"delegator": delegator_of_account, "delegate": ZERO_ADDRESS}, recovered
        # the delegator's DelegateTo was never seen here: only the event log can show it
        return "DelegationRejected", {"rejector": signer, "delegationAccount": call.accounts[1]}, recovered
    return call.instruction, {"signer": signer, **args}, recovered


@dataclass(frozen=True)
class Recorded:
    new: int
    duplicates: int


class SolanaLedger:
    """The chain context's Solana commands."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain  # the Chain application

    def _get(self, aggregate_id: UUID) -> Any | None:
        try:
            return self.chain.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def record(self, chain_id: int, calls: Sequence[MailerCall]) -> Recorded:
        """Record the calls not recorded before, numbered after the network's last one, in one save."""
        return self.chain.retrying(lambda: self._record(chain_id, calls))

    def _record(self, chain_id: int, calls: Sequence[MailerCall]) -> Recorded:
        cursor = self._get(SolanaCursor.create_id(chain_id)) or SolanaCursor(chain_id=chain_id)
        by_signature: dict[str, list[MailerCall]] = {}
        for call in calls:
            by_signature.setdefault(call.signature, []).append(call)
        pending: list[Aggregate] = []
        accounts: dict[str, str] = {}  # delegation account -> delegator, as known so far
        records: list[dict[str, Any]] = []
        duplicates = 0
        for signature, tx_calls in by_signature.items():
            if self._get(SolanaTransaction.create_id(chain_id, signature)) is not None:
                duplicates += len(tx_calls)
                continue
            pending.append(
                SolanaTransaction(
                    chain_id=chain_id, signature=signature, slot=tx_calls[0].slot, paths=[c.path for c in tx_calls]
                )
            )
            for call in tx_calls:
                delegator = self._delegator(chain_id, call, accounts, pending)
                name, args, recovered = mailer_event(call, delegator)
                record = LogRecord(
                    chain_id=chain_id,
                    contract=MAILER,
                    address=call.program_id,
                    event=name,
                    abi_version=SOLANA_ABI,
                    block_number=call.slot,
                    block_hash="",  # a Solana transaction's JSON does not name its block's hash
                    block_time=call.block_time,
                    tx_hash=call.signature,
                    tx_index=call.index_in_block,
                    log_index=cursor.sequence + len(records),
                    args=args,
                    tx_from=call.accounts[0],
                    recovered=recovered,
                )
                records.append(record.to_json())
        if not records:
            return Recorded(new=0, duplicates=duplicates)
        first = cursor.sequence
        slots = [r["block_number"] for r in records]
        cursor.advance(slot=max(slots), count=len(records))
        # the cursor's version numbers the page, as the EVM checkpoint's does on its chain
        page = LogPage(chain_id, cursor.version, min(slots), max(slots), records, [])
        self.chain.save(cursor, page, *pending)
        assert cursor.sequence == first + len(records)
        return Recorded(new=len(records), duplicates=duplicates)

    def _delegator(
        self, chain_id: int, call: MailerCall, accounts: dict[str, str], pending: list[Aggregate]
    ) -> str | None:
        """Whose delegation account a DelegateTo or RejectDelegation names (the second account)."""
        if call.instruction not in ("DelegateTo", "RejectDelegation"):
            return None
        account = call.accounts[1]
        if account not in accounts:
            known = self._get(SolanaDelegationAccount.create_id(chain_id, account))
            if known is not None:
                accounts[account] = known.delegator
            elif call.instruction == "DelegateTo":
                delegator = call.accounts[0]
                pending.append(SolanaDelegationAccount(chain_id=chain_id, account=account, delegator=delegator))
                accounts[account] = delegator
        return accounts.get(account)

    def last_slot(self, chain_id: int) -> int:
        cursor = self._get(SolanaCursor.create_id(chain_id))
        return cursor.slot if cursor is not None else 0

    # -- the Helius webhook's secret and registration ------------------------------------------------

    def webhook(self, chain_id: int) -> SolanaWebhook | None:
        return self._get(SolanaWebhook.create_id(chain_id))

    def issue_secret(self, chain_id: int, secret: str) -> None:
        def command() -> None:
            hook = self.webhook(chain_id) or SolanaWebhook(chain_id=chain_id)
            hook.issue_secret(secret)
            self.chain.save(hook)

        self.chain.retrying(command)

    def register_webhook(self, chain_id: int, webhook_id: str, url: str, webhook_type: str, program_id: str) -> None:
        def command() -> None:
            hook = self.webhook(chain_id) or SolanaWebhook(chain_id=chain_id)
            hook.register(webhook_id, url, webhook_type, program_id)
            self.chain.save(hook)

        self.chain.retrying(command)
