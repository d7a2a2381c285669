"""Base58 and Borsh, as far as the Mailer program needs them: a strict reader that raises
`UndecodableInstruction` (never anything else) on data that does not fit."""

from __future__ import annotations

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_DIGITS = {c: i for i, c in enumerate(_ALPHABET)}
# A Solana transaction is at most 1232 bytes; base58 text of that is ~1700 characters.
MAX_BASE58_CHARS = 4096


class UndecodableInstruction(ValueError):
    """Instruction data or an account list that the Mailer's instruction table cannot read."""


def b58decode(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_BASE58_CHARS:
        raise UndecodableInstruction("not base58 text of a sensible length")
    number = 0
    for char in text:
        digit = _DIGITS.get(char)
        if digit is None:
            raise UndecodableInstruction(f"{char!r} is not a base58 character")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * zeros + body


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_ALPHABET[digit])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(out))


class BorshReader:
    """Reads Borsh values off a byte string front to back; `done()` insists nothing is left over."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def _take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise UndecodableInstruction(f"truncated: wanted {size} bytes at offset {self.at} of {len(self.data)}")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self._take(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self._take(8), "little")

    def bool(self) -> bool:
        value = self.u8()
        if value > 1:
            raise UndecodableInstruction(f"{value} is not a Borsh bool")
        return value == 1

    def string(self) -> str:
        raw = self._take(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UndecodableInstruction(f"string is not UTF-8: {error}") from None

    def pubkey(self) -> str:
        return b58encode(self._take(32))

    def option_pubkey(self) -> str | None:
        tag = self.u8()
        if tag > 1:
            raise UndecodableInstruction(f"{tag} is not a Borsh Option tag")
        return self.pubkey() if tag else None

    def done(self) -> None:
        if self.at != len(self.data):
            raise UndecodableInstruction(f"{len(self.data) - self.at} bytes left over after the instruction")


class BorshWriter:
    """The other direction, for synthetic transactions (`POST /solana/test-transaction`) and tests."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u8(self, value: int) -> BorshWriter:
        self.parts.append(bytes([value]))
        return self

    def u64(self, value: int) -> BorshWriter:
        self.parts.append(value.to_bytes(8, "little"))
        return self

    def bool(self, value: bool) -> BorshWriter:
        return self.u8(1 if value else 0)

    def string(self, value: str) -> BorshWriter:
        raw = value.encode("utf-8")
        self.parts.append(len(raw).to_bytes(4, "little") + raw)
        return self

    def pubkey(self, value: str) -> BorshWriter:
        raw = b58decode(value)
        if len(raw) != 32:
            raise ValueError(f"{value!r} is not a 32-byte public key")
        self.parts.append(raw)
        return self

    def option_pubkey(self, value: str | None) -> BorshWriter:
        return self.u8(0) if value is None else self.u8(1).pubkey(value)

    def bytes(self) -> bytes:
        return b"".join(self.parts)
