"""The contract events chainmail indexes: one ABI entry per event, for the Mailer (current and older
ABIs) and the 3DNS token; topic hashes computed from the signatures, logs decoded into plain values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

MAILER = "mailer"
THREEDNS = "threedns"
CURRENT = "current"
# Indexed string arguments whose text chainmail recovers from the transaction input.
RECOVERED_STRINGS = ("mailId", "webhookId")

_PARAM = re.compile(r"^\s*(?P<type>[a-z0-9\[\]]+)(?P<indexed>\s+indexed)?\s+(?P<name>\w+)\s*$")
_SIGNATURE = re.compile(r"^(?P<name>\w+)\((?P<params>.*)\)$")


class UndecodableLog(ValueError):
    """A log whose topics or data do not fit the ABI entry its topic0 names."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    indexed: bool

    @property
    def hashed(self) -> bool:
        """Indexed dynamic values arrive only as their keccak256 hash."""
        return self.indexed and (self.type in ("string", "bytes") or self.type.endswith("]"))


@dataclass(frozen=True)
class EventAbi:
    contract: str  # MAILER or THREEDNS
    name: str
    params: tuple[Param, ...]
    version: str = CURRENT

    @classmethod
    def parse(cls, contract: str, signature: str, version: str = CURRENT) -> EventAbi:
        """`Name(type [indexed] name, ...)` as written in the contract source."""
        match = _SIGNATURE.match(signature.strip())
        if not match:
            raise ValueError(f"not an event signature: {signature!r}")
        params = []
        for part in filter(None, (p.strip() for p in match["params"].split(","))):
            param = _PARAM.match(part)
            if not param:
                raise ValueError(f"bad parameter {part!r} in {signature!r}")
            params.append(Param(param["name"], param["type"], bool(param["indexed"])))
        return cls(contract, match["name"], tuple(params), version)

    @property
    def canonical(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.params)})"

    @property
    def topic0(self) -> str:
        return "0x" + keccak(text=self.canonical).hex()

    @cached_property
    def _layout(
        self,
    ) -> tuple[tuple[Any, ...], tuple[str, ...], tuple[str, ...], Any, tuple[bool, ...], tuple[str, ...]]:
        """Worked out once per entry: indexed (name, type, hashed, bytes-valued, fast reader), then the data
        part's names, types, fast readers (None: left to eth_abi) and which are shown as 0x hex, then the
        order of all arguments."""
        indexed = tuple(
            (p.name, p.type, p.hashed, p.type.startswith("bytes"), _reader(p.type)) for p in self.params if p.indexed
        )
        body = [p for p in self.params if not p.indexed]
        types = tuple(p.type for p in body)
        return (
            indexed,
            tuple(p.name for p in body),
            types,
            _readers(types),
            tuple(p.type.startswith("bytes") or p.type.endswith("]") for p in body),
            tuple(p.name for p in self.params),
        )

    @cached_property
    def recovers_strings(self) -> bool:
        """Whether an indexed string argument (mailId, webhookId) has to be recovered from the transaction."""
        return any(p.hashed and p.name in RECOVERED_STRINGS for p in self.params)

    def decode(self, topics: Sequence[str], data: str) -> dict[str, Any]:
        """The log's arguments: addresses lower-case, integers as int, bytes as 0x hex, hashed values
        (indexed strings) as 0x hex of their hash."""
        indexed, names, types, readers, shown_as_hex, order = self._layout
        if len(topics) != 1 + len(indexed):
            raise UndecodableLog(f"{self.name}: {len(topics) - 1} indexed topics, the ABI has {len(indexed)}")
        args: dict[str, Any] = {}
        for (name, type_, hashed, as_hex, read), topic in zip(indexed, topics[1:], strict=True):
            word = bytes.fromhex(topic.removeprefix("0x"))
            if hashed:
                args[name] = "0x" + word.hex()
                continue
            try:  # a topic is one word: the fast path takes it unless it is malformed
                if read is None or len(word) != 32:
                    raise _NotSimple
                value = read(word, 0)
                args[name] = _plain(type_, value) if as_hex else value
            except _NotSimple:
                args[name] = _plain(type_, _decode1(type_, word))
        raw = bytes.fromhex(data.removeprefix("0x"))
        try:
            if readers is None or len(raw) < 32 * len(readers):
                raise _NotSimple
            values = [read(raw, 32 * i) for i, read in enumerate(readers)]
        except _NotSimple:
            try:
                values = [_plain(t, v) for t, v in zip(types, abi_decode(types, raw), strict=True)]
            except Exception as error:  # eth_abi raises several unrelated types for short or bad data
                raise UndecodableLog(f"{self.name}: {error}") from error
        else:
            if any(shown_as_hex):
                values = [_plain(t, v) if h else v for t, v, h in zip(types, values, shown_as_hex, strict=True)]
        args.update(zip(names, values, strict=True))
        return {name: args[name] for name in order}


class _NotSimple(Exception):
    """Types or data the fast path leaves to eth_abi (arrays, tuples, anything malformed)."""


_ZERO_WORD = bytes(32)
_TRUE_WORD = bytes(31) + b"\x01"
Reader = Callable[[bytes, int], Any]


def _decode_simple(types: Sequence[str], data: bytes) -> list[Any]:
    """ABI-decode a flat list of elementary types (the shape of every event chainmail indexes), several
    times faster than eth_abi's general decoder; anything unusual falls back to eth_abi."""
    readers = _readers(tuple(types))
    if readers is None or len(data) < 32 * len(readers):
        raise _NotSimple
    return [read(data, 32 * i) for i, read in enumerate(readers)]


@lru_cache(maxsize=256)
def _readers(types: tuple[str, ...]) -> tuple[Reader, ...] | None:
    readers = [_reader(t) for t in types]
    return None if any(r is None for r in readers) else tuple(r for r in readers if r is not None)


def _reader(type_: str) -> Reader | None:
    """A function reading one head word of this type at an offset of the data, or None for types left to eth_abi."""
    if type_ == "address":

        def address(data: bytes, at: int) -> str:
            if data[at : at + 12] != _ZERO_WORD[:12]:
                raise _NotSimple
            return "0x" + data[at + 12 : at + 32].hex()

        return address
    if type_ == "bool":

        def boolean(data: bytes, at: int) -> bool:
            word = data[at : at + 32]
            if word == _ZERO_WORD:
                return False
            if word == _TRUE_WORD:
                return True
            raise _NotSimple

        return boolean
    if type_.startswith("uint") and type_[4:].isdigit():
        bits = int(type_[4:])

        def uint(data: bytes, at: int) -> int:
            value = int.from_bytes(data[at : at + 32], "big")
            if value >> bits:
                raise _NotSimple
            return value

        return uint
    if type_ in ("string", "bytes"):
        text = type_ == "string"

        def dynamic(data: bytes, at: int) -> str | bytes:
            offset = int.from_bytes(data[at : at + 32], "big")
            if offset + 32 > len(data):
                raise _NotSimple
            length = int.from_bytes(data[offset : offset + 32], "big")
            if offset + 32 + length > len(data):
                raise _NotSimple
            chunk = data[offset + 32 : offset + 32 + length]
            if not text:
                return chunk
            try:
                return chunk.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _NotSimple from error

        return dynamic
    if type_.startswith("bytes") and type_[5:].isdigit():
        size = int(type_[5:])

        def fixed(data: bytes, at: int) -> bytes:
            if data[at + size : at + 32] != _ZERO_WORD[size:]:
                raise _NotSimple
            return data[at : at + size]

        return fixed
    return None


def _decode1(type_: str, word: bytes) -> Any:
    try:
        return abi_decode([type_], word)[0]
    except Exception as error:
        raise UndecodableLog(f"topic does not hold a {type_}: {error}") from error


def _plain(type_: str, value: Any) -> Any:
    if type_ == "address":
        return str(value).lower()
    if isinstance(value, bytes):
        if type_ == "string":  # pragma: no cover - eth_abi gives str for strings
            return value.decode("utf-8", "replace")
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(type_.rsplit("[", 1)[0], v) for v in value]
    return value


def _mailer(signature: str, version: str = CURRENT) -> EventAbi:
    return EventAbi.parse(MAILER, signature, version)


# The Mailer's current ABI (contracts/Mailer.sol since 2025-11-26).
MAILER_EVENTS: tuple[EventAbi, ...] = (
    _mailer(
        "MailSent(address indexed from, address payer, address indexed to, string subject, string body,"
        " bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid)"
    ),
    _mailer(
        "PreparedMailSent(address indexed from, address payer, address indexed to, string indexed mailId,"
        " bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid)"
    ),
    _mailer(
        "MailSentToEmail(address indexed from, address payer, string toEmail, string subject, string body,"
        " bool feePaid)"
    ),
    _mailer(
        "PreparedMailSentToEmail(address indexed from, address payer, string toEmail, string indexed mailId,"
        " bool feePaid)"
    ),
    _mailer(
        "WebhookMailSent(address indexed from, address payer, address indexed to, string indexed webhookId,"
        " bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid)"
    ),
    _mailer("DelegationSet(address indexed delegator, address indexed delegate)"),
    _mailer("DelegationFeeUpdated(uint256 oldFee, uint256 newFee)"),
    _mailer("FeeUpdated(uint256 oldFee, uint256 newFee)"),
    _mailer("SharesRecorded(address indexed recipient, uint256 recipientAmount, uint256 ownerAmount)"),
    _mailer("RecipientClaimed(address indexed recipient, uint256 amount)"),
    _mailer("OwnerClaimed(uint256 amount)"),
    _mailer("ExpiredSharesClaimed(address indexed recipient, uint256 amount)"),
    _mailer("ContractPaused()"),
    _mailer("ContractUnpaused()"),
    _mailer("EmergencyUnpaused()"),
    _mailer("FeePauseToggled(bool feePaused)"),
    _mailer("FundsDistributed(address indexed recipient, uint256 amount)"),
    _mailer("CustomFeePercentageSet(address indexed account, uint256 percentage)"),
    _mailer("PermissionGranted(address indexed contractAddress, address indexed wallet)"),
    _mailer("PermissionRevoked(address indexed contractAddress, address indexed wallet)"),
)

# Older ABIs the same proxies emitted before upgrades: feePaid without payer (2025-11-15, bb7697f), and
# neither (2025-10-07 to 11-13). Decoded under the same names; the missing fields get their implied value.
FEE_PAID_NO_PAYER = "2025-11-15"
NO_FEE_PAID = "2025-10-07"
LEGACY_MAILER_EVENTS: tuple[EventAbi, ...] = (
    _mailer(
        "MailSent(address indexed from, address indexed to, string subject, string body,"
        " bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid)",
        FEE_PAID_NO_PAYER,
    ),
    _mailer(
        "PreparedMailSent(address indexed from, address indexed to, string indexed mailId,"
        " bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid)",
        FEE_PAID_NO_PAYER,
    ),
    _mailer(
        "MailSentToEmail(address indexed from, string toEmail, string subject, string body, bool feePaid)",
        FEE_PAID_NO_PAYER,
    ),
    _mailer(
        "PreparedMailSentToEmail(address indexed from, string toEmail, string indexed mailId, bool feePaid)",
        FEE_PAID_NO_PAYER,
    ),
    _mailer(
        "WebhookMailSent(address indexed from, address indexed to, string indexed webhookId,"
        " bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid)",
        FEE_PAID_NO_PAYER,
    ),
    _mailer(
        "MailSent(address indexed from, address indexed to, string subject, string body,"
        " bool revenueShareToReceiver, bool resolveSenderToName)",
        NO_FEE_PAID,
    ),
    _mailer(
        "PreparedMailSent(address indexed from, address indexed to, string indexed mailId,"
        " bool revenueShareToReceiver, bool resolveSenderToName)",
        NO_FEE_PAID,
    ),
    _mailer("MailSentToEmail(address indexed from, string toEmail, string subject, string body)", NO_FEE_PAID),
    _mailer("PreparedMailSentToEmail(address indexed from, string toEmail, string indexed mailId)", NO_FEE_PAID),
    _mailer(
        "WebhookMailSent(address indexed from, address indexed to, string indexed webhookId,"
        " bool revenueShareToReceiver, bool resolveSenderToName)",
        NO_FEE_PAID,
    ),
)

# The 3DNS registry token on Optimism (ThreeDNSToken, an ERC-1155 whose token id is the name's node).
THREEDNS_EVENTS: tuple[EventAbi, ...] = tuple(
    EventAbi.parse(THREEDNS, signature)
    for signature in (
        "RegistrationCreated(bytes32 indexed node, bytes32 indexed tld, bytes fqdn, address registrant,"
        " uint32 controlBitmap, uint64 expiry)",
        "RegistrationExtended(bytes32 indexed node, uint64 indexed duration, uint64 indexed newExpiry)",
        "RegistrationTransferred(bytes32 indexed node, address indexed newOwner, address indexed operator)",
        "TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)",
    )
)

ALL_EVENTS: tuple[EventAbi, ...] = MAILER_EVENTS + LEGACY_MAILER_EVENTS + THREEDNS_EVENTS


class AbiBook:
    """Finds the ABI entry of a log by its contract kind and topic0."""

    def __init__(self, events: Iterable[EventAbi] = ALL_EVENTS) -> None:
        self.by_topic: dict[tuple[str, str], EventAbi] = {}
        for entry in events:
            key = (entry.contract, entry.topic0)
            if key in self.by_topic:
                raise ValueError(f"two ABI entries share topic0 {entry.topic0} ({entry.canonical})")
            self.by_topic[key] = entry

    def topics(self, contract: str) -> list[str]:
        return sorted(topic for kind, topic in self.by_topic if kind == contract)

    def entry(self, contract: str, topic0: str) -> EventAbi | None:
        return self.by_topic.get((contract, topic0.lower()))


def normalized_args(entry: EventAbi, args: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments in the current ABI's terms: older Mailer events get `payer = from` (the sender paid)
    and `feePaid = true` (fees were not optional then: an unpaid send reverted)."""
    out = dict(args)
    if entry.contract == MAILER and entry.version != CURRENT and "from" in out:
        out.setdefault("payer", out["from"])
        out.setdefault("feePaid", True)
    for key, value in out.items():
        # uint256 values do not fit JSON numbers everywhere: keep them as decimal strings.
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            out[key] = str(value)
    return out
