"""Helius webhook deliveries: a JSON array of transactions, each in the `raw` shape (the
`getTransaction` JSON) or the `enhanced` shape; validated, then reduced to the Mailer program's
instructions (top-level and inner, in execution order) with the log lines each of them wrote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

import solders.pubkey
import solders.signature
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from chainmail.domain.bounds import IndexInBlock, Slot, UnixTime
from chainmail.indexer.solana.borsh import UndecodableInstruction, b58decode

MAX_TRANSACTIONS = 1000  # per delivery
MAX_INSTRUCTIONS = 256  # per transaction (top-level and inner)
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]*$")


class BadDelivery(ValueError):
    """A delivery that is not a Helius payload chainmail can read; nothing of it is recorded."""


def _pubkey(value: str) -> str:
    if not _BASE58.match(value) or not 32 <= len(value) <= 44:
        raise ValueError("is not a base58 public key")
    try:
        solders.pubkey.Pubkey.from_string(value)  # base58 in Rust: far quicker than in Python
    except ValueError:
        raise ValueError("is not a base58 public key") from None
    return value


def _signature(value: str) -> str:
    if not _BASE58.match(value) or not 64 <= len(value) <= 88:
        raise ValueError("is not a base58 transaction signature")
    try:
        solders.signature.Signature.from_string(value)
    except ValueError:
        raise ValueError("is not a base58 transaction signature") from None
    return value


def _base58(value: str) -> str:
    if not _BASE58.match(value):
        raise ValueError("is not base58")
    return value


Pubkey = Annotated[str, Field(max_length=44), AfterValidator(_pubkey)]
Signature = Annotated[str, Field(max_length=88), AfterValidator(_signature)]
Base58 = Annotated[str, Field(max_length=4096), AfterValidator(_base58)]
Index = Annotated[int, Field(ge=0, le=255)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- raw: the getTransaction JSON ------------------------------------------------------------------


class RawInstruction(_Model):
    programIdIndex: Index
    accounts: list[Index] = Field(max_length=256)
    data: Base58


class RawInnerInstructions(_Model):
    index: Index
    instructions: list[RawInstruction] = Field(max_length=MAX_INSTRUCTIONS)


class LoadedAddresses(_Model):
    writable: list[Pubkey] = Field(default_factory=list, max_length=256)
    readonly: list[Pubkey] = Field(default_factory=list, max_length=256)


class RawMeta(_Model):
    err: Any = None
    logMessages: list[str] | None = Field(default=None, max_length=10_000)
    innerInstructions: list[RawInnerInstructions] | None = Field(default=None, max_length=MAX_INSTRUCTIONS)
    loadedAddresses: LoadedAddresses | None = None


class ParsedAccountKey(_Model):
    pubkey: Pubkey


class RawMessage(_Model):
    accountKeys: list[Pubkey | ParsedAccountKey] = Field(min_length=1, max_length=256)
    instructions: list[RawInstruction] = Field(max_length=MAX_INSTRUCTIONS)


class RawTransaction(_Model):
    signatures: list[Signature] = Field(min_length=1, max_length=64)
    message: RawMessage


class RawItem(_Model):
    slot: Slot
    blockTime: UnixTime | None = None
    indexWithinBlock: IndexInBlock | None = None
    meta: RawMeta | None = None
    transaction: RawTransaction

    @model_validator(mode="after")
    def _indices_in_range(self) -> RawItem:
        keys = len(self.account_keys())
        for ix in self.all_instructions():
            if ix.programIdIndex >= keys or any(a >= keys for a in ix.accounts):
                raise ValueError(f"an instruction names account index beyond the {keys} account keys")
        return self

    def account_keys(self) -> list[str]:
        keys = [k if isinstance(k, str) else k.pubkey for k in self.transaction.message.accountKeys]
        loaded = self.meta.loadedAddresses if self.meta else None
        if loaded is not None:  # v0 transactions: lookup-table addresses follow the static keys
            keys += loaded.writable + loaded.readonly
        return keys

    def all_instructions(self) -> list[RawInstruction]:
        inner = [ix for group in (self.meta.innerInstructions or []) for ix in group.instructions] if self.meta else []
        return self.transaction.message.instructions + inner


# -- enhanced ---------------------------------------------------------------------------------------


class EnhancedInnerInstruction(_Model):
    programId: Pubkey
    accounts: list[Pubkey] = Field(default_factory=list, max_length=256)
    data: Base58 = ""


class EnhancedInstruction(EnhancedInnerInstruction):
    innerInstructions: list[EnhancedInnerInstruction] = Field(default_factory=list, max_length=MAX_INSTRUCTIONS)


class EnhancedItem(_Model):
    signature: Signature
    slot: Slot
    timestamp: UnixTime | None = None
    transactionError: Any = None
    instructions: list[EnhancedInstruction] = Field(default_factory=list, max_length=MAX_INSTRUCTIONS)


# -- what ingestion needs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramCall:
    """One invocation of the watched program inside a transaction."""

    path: str  # "3" for top-level instruction 3, "3.1" for the second inner instruction under it
    data: bytes
    accounts: list[str]
    logs: list[str] | None  # its own `Program log:` lines; None when the payload carries no logs


@dataclass(frozen=True)
class Transaction:
    signature: str
    slot: int
    block_time: int
    index_in_block: int
    failed: bool
    calls: list[ProgramCall] = field(default_factory=list)


def parse_delivery(body: Any, program_id: str) -> list[Transaction]:
    """The transactions of a webhook body, each with its calls of `program_id`; BadDelivery otherwise."""
    if not isinstance(body, list):
        raise BadDelivery("the body must be a JSON array of transactions")
    if len(body) > MAX_TRANSACTIONS:
        raise BadDelivery(f"at most {MAX_TRANSACTIONS} transactions per delivery")
    return [parse_transaction(item, program_id, position) for position, item in enumerate(body)]


def parse_transaction(item: Any, program_id: str, position: int = 0) -> Transaction:
    where = f"[{position}]"
    if not isinstance(item, dict):
        raise BadDelivery(f"{where} must be a transaction object")
    try:
        if "transaction" in item:
            return _from_raw(RawItem.model_validate(item), program_id)
        if "signature" in item:
            return _from_enhanced(EnhancedItem.model_validate(item), program_id)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BadDelivery(f"{where}.{loc}: {first['msg']}" if loc else f"{where}: {first['msg']}") from None
    except UndecodableInstruction as error:
        raise BadDelivery(f"{where}: {error}") from None
    raise BadDelivery(f"{where} is neither a raw nor an enhanced Helius transaction")


def _from_raw(item: RawItem, program_id: str) -> Transaction:
    keys = item.account_keys()
    inner: dict[int, list[RawInstruction]] = {}
    for group in (item.meta.innerInstructions or []) if item.meta else []:
        inner.setdefault(group.index, []).extend(group.instructions)
    failed = item.meta is not None and item.meta.err is not None
    logs = _frames(item.meta.logMessages, program_id) if item.meta and item.meta.logMessages is not None else None
    calls: list[ProgramCall] = []

    def add(path: str, ix: RawInstruction) -> None:
        if keys[ix.programIdIndex] == program_id:
            own = logs[len(calls)] if logs is not None and len(calls) < len(logs) else None
            calls.append(ProgramCall(path, b58decode(ix.data), [keys[a] for a in ix.accounts], own))

    for i, ix in enumerate(item.transaction.message.instructions):
        add(str(i), ix)
        for j, inner_ix in enumerate(inner.get(i, [])):
            add(f"{i}.{j}", inner_ix)
    return Transaction(
        signature=item.transaction.signatures[0],
        slot=item.slot,
        block_time=item.blockTime or 0,
        index_in_block=item.indexWithinBlock or 0,
        failed=failed,
        calls=calls,
    )


def _from_enhanced(item: EnhancedItem, program_id: str) -> Transaction:
    calls: list[ProgramCall] = []
    for i, ix in enumerate(item.instructions):
        if ix.programId == program_id:
            calls.append(ProgramCall(str(i), b58decode(ix.data), list(ix.accounts), None))
        for j, inner in enumerate(ix.innerInstructions):
            if inner.programId == program_id:
                calls.append(ProgramCall(f"{i}.{j}", b58decode(inner.data), list(inner.accounts), None))
    return Transaction(
        signature=item.signature,
        slot=item.slot,
        block_time=item.timestamp or 0,
        index_in_block=0,
        failed=item.transactionError is not None,
        calls=calls,
    )


_INVOKE = re.compile(r"^Program (\S+) invoke \[\d+\]$")
_RETURN = re.compile(r"^Program (\S+) (success|failed.*)$")
_LOG = "Program log: "


def _frames(lines: list[str], program_id: str) -> list[list[str]] | None:
    """The `Program log:` lines of each invocation of `program_id`, in invocation order (which is the
    order of the flattened instructions). None when the runtime truncated the logs."""
    frames: list[list[str]] = []
    stack: list[int | None] = []  # per open invocation: its frame number if it is the program
    for line in lines:
        if not isinstance(line, str):
            continue
        if line.startswith("Log truncated"):
            return frames or None
        invoked = _INVOKE.match(line)
        if invoked:
            if invoked[1] == program_id:
                frames.append([])
                stack.append(len(frames) - 1)
            else:
                stack.append(None)
            continue
        if _RETURN.match(line):
            if stack:
                stack.pop()
            continue
        if line.startswith(_LOG) and stack and stack[-1] is not None:
            frames[stack[-1]].append(line[len(_LOG) :])
    return frames
