"""Indexed `string` arguments (`mailId`, `webhookId`) reach a log only as keccak256 hashes; the string
itself is in the transaction's input. Found by meaning, not by function signature, so it works for
every Mailer version and for calls wrapped by another contract (multicall, smart accounts)."""

from __future__ import annotations

from eth_utils import keccak

MAX_STRING = 4096


def recover_string(calldata: bytes, digest: str) -> str | None:
    """The ABI-encoded string in `calldata` whose keccak256 is `digest`, if there is one.

    ABI encoding stores a string as a 32-byte length word followed by its bytes; try every word that
    reads as a plausible length.
    """
    target = bytes.fromhex(digest.removeprefix("0x"))
    if keccak(b"") == target:
        return ""
    size = len(calldata)
    for start in range(0, max(size - 32, 0)):
        word = calldata[start : start + 32]
        if any(word[:28]):
            continue
        length = int.from_bytes(word, "big")
        if not 0 < length <= min(MAX_STRING, size - start - 32):
            continue
        candidate = calldata[start + 32 : start + 32 + length]
        if keccak(candidate) == target:
            try:
                return candidate.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def dns_wire_name(fqdn: str) -> str | None:
    """A DNS wire-format name (length-prefixed labels, `0x` hex) as dotted text: `03626f78...` -> `box`."""
    try:
        raw = bytes.fromhex(fqdn.removeprefix("0x"))
    except ValueError:
        return None
    labels, i = [], 0
    while i < len(raw):
        length = raw[i]
        if length == 0:
            break
        label = raw[i + 1 : i + 1 + length]
        if len(label) != length:
            return None
        labels.append(label.decode("utf-8", "replace"))
        i += 1 + length
    return ".".join(labels).lower() or None
