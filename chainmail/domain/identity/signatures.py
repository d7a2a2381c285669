"""Wallet signatures, checked in one place: which wallet an address is, whether it signed a text, and
the SIWE-style sign-in message (its wording, and reading one back).

EVM: EIP-191 `personal_sign` over the UTF-8 text, the 65-byte r||s||v signature as `0x`-hex, bare hex
or base64. Solana: ed25519 over the raw UTF-8 text, the 64-byte signature in base58. Nothing here raises
on malformed input: a bad signature is simply not valid.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from eth_utils import to_checksum_address
from solders.pubkey import Pubkey
from solders.signature import Signature

ChainType = Literal["evm", "solana"]

EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
_HEX_SIGNATURE = re.compile(r"^(0x)?[0-9a-fA-F]{130}$")
MAX_MESSAGE_CHARS = 4096


@dataclass(frozen=True)
class Wallet:
    """A wallet address in its canonical form: EVM lower-case hex, Solana base58 as written."""

    address: str
    chain_type: ChainType

    @property
    def display(self) -> str:
        """The address as wallets show it in a sign-in message (EIP-55 for EVM)."""
        return to_checksum_address(self.address) if self.chain_type == "evm" else self.address


def parse_wallet(text: object) -> Wallet | None:
    """The wallet an address names, or None when it is neither an EVM nor a Solana address."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if EVM_ADDRESS.match(text):
        return Wallet(text.lower(), "evm")
    if not text.startswith("0x") and BASE58.match(text):
        try:
            key = Pubkey.from_string(text)
        except (ValueError, TypeError):
            return None
        if len(bytes(key)) == 32:
            return Wallet(text, "solana")
    return None


def _evm_signature_bytes(signature: str) -> bytes | None:
    text = signature.strip()
    if _HEX_SIGNATURE.match(text):
        return bytes.fromhex(text.removeprefix("0x"))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 65 else None


@cache
def _eth_account() -> tuple[Any, Any]:
    """eth_account's `Account` and `encode_defunct`, imported at first use: the import builds py_ecc's curves,
    0.3 s of the start-up of every command that never checks a signature, and raises the recursion limit
    to 100,000, which is put back as it was (served workers import it at start: `chainmail.http.wsgi`)."""
    limit = sys.getrecursionlimit()
    from eth_account import Account
    from eth_account.messages import encode_defunct

    sys.setrecursionlimit(limit)
    return Account, encode_defunct


def recover_evm_signer(message: str, signature: str) -> str | None:
    """The lower-cased address that `personal_sign`ed `message`, or None for an unusable signature."""
    raw = _evm_signature_bytes(signature)
    if raw is None:
        return None
    account, encode_defunct = _eth_account()
    try:
        address = account.recover_message(encode_defunct(text=message), signature=raw)
    except Exception:  # eth-account raises several unrelated types for bad r/s/v; all mean "not a signature"
        return None
    return address.lower()


def verify_signature(wallet: Wallet, message: str, signature: str) -> bool:
    """Did `wallet` sign exactly `message`?"""
    if not isinstance(message, str) or not isinstance(signature, str) or not signature.strip():
        return False
    if wallet.chain_type == "evm":
        return recover_evm_signer(message, signature) == wallet.address
    try:
        sig = Signature.from_string(signature.strip())
        key = Pubkey.from_string(wallet.address)
    except (ValueError, TypeError):
        return False
    return bool(sig.verify(key, message.encode("utf-8")))


# -- the sign-in message ----------------------------------------------------------------------------

_CHAIN_WORD = {"evm": "Ethereum", "solana": "Solana"}
_FIRST_LINE = re.compile(r"^(?P<domain>\S+) wants you to sign in with your (?P<word>Ethereum|Solana) account:$")
_FIELD = re.compile(r"^(?P<key>URI|Version|Chain ID|Nonce|Issued At|Expiration Time|Not Before|Request ID): (?P<v>.*)$")


class InvalidMessage(ValueError):
    """The text is not a sign-in message this service can read."""


@dataclass(frozen=True)
class SignInMessage:
    domain: str
    address: str
    chain_type: ChainType
    statement: str
    uri: str | None
    version: str | None
    chain_id: int | None
    nonce: str | None
    issued_at: datetime | None

    @property
    def wallet(self) -> Wallet | None:
        return parse_wallet(self.address)


def iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign_in_message(
    wallet: Wallet, *, domain: str, uri: str, nonce: str, issued_at: datetime, chain_id: int | None = None
) -> str:
    """The text a wallet signs to sign in (EIP-4361 shape; Solana mirrors it and names no chain id)."""
    word = _CHAIN_WORD[wallet.chain_type]
    lines = [
        f"{domain} wants you to sign in with your {word} account:",
        wallet.display,
        "",
        f"Sign in with {word} to the app.",
        "",
        f"URI: {uri}",
        "Version: 1",
    ]
    if wallet.chain_type == "evm" and chain_id is not None:
        lines.append(f"Chain ID: {chain_id}")
    lines += [f"Nonce: {nonce}", f"Issued At: {iso_millis(issued_at)}"]
    return "\n".join(lines)


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessage(f"unreadable time {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_sign_in_message(text: str) -> SignInMessage:
    """Read a sign-in message back; raises InvalidMessage when it does not have the expected shape."""
    if not isinstance(text, str) or not text or len(text) > MAX_MESSAGE_CHARS:
        raise InvalidMessage("empty or oversized message")
    lines = text.replace("\r\n", "\n").split("\n")
    first = _FIRST_LINE.match(lines[0].strip())
    if first is None or len(lines) < 2:
        raise InvalidMessage("the first line does not say who wants a sign-in")
    address = lines[1].strip()
    chain_type: ChainType = "evm" if first.group("word") == "Ethereum" else "solana"
    fields: dict[str, str] = {}
    statement: list[str] = []
    for line in lines[2:]:
        match = _FIELD.match(line.strip())
        if match:
            if match.group("key") in fields:
                raise InvalidMessage(f"{match.group('key')} appears twice")
            fields[match.group("key")] = match.group("v").strip()
        elif line.strip() and not fields:
            statement.append(line.strip())
    chain_id = None
    if "Chain ID" in fields:
        try:
            chain_id = int(fields["Chain ID"])
        except ValueError:
            raise InvalidMessage("Chain ID is not a number") from None
    return SignInMessage(
        domain=first.group("domain"),
        address=address,
        chain_type=chain_type,
        statement="\n".join(statement),
        uri=fields.get("URI"),
        version=fields.get("Version"),
        chain_id=chain_id,
        nonce=fields.get("Nonce"),
        issued_at=_parse_time(fields["Issued At"]) if "Issued At" in fields else None,
    )
