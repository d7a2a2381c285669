"""OpenPGP/MIME encryption of stored messages, as WildDuck's `encryptMessageAsync` does it: the content
headers and the body go into an encrypted `encrypted.asc` part under `multipart/encrypted`; the other
headers stay readable."""

from __future__ import annotations

import re
import secrets
import warnings

import structlog

log = structlog.get_logger(__name__)

with warnings.catch_warnings():  # PGPy names old ciphers (CAST5, Blowfish) that cryptography marks as decrepit
    warnings.simplefilter("ignore")
    import pgpy

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ARMORED = re.compile(r"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?-----END PGP PUBLIC KEY BLOCK-----", re.S)


def _public_key(armored: str) -> pgpy.PGPKey | None:
    match = _ARMORED.search(armored or "")
    if match is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key, _ = pgpy.PGPKey.from_blob(match.group(0))
    except (ValueError, TypeError, NotImplementedError, pgpy.errors.PGPError):
        return None
    return key if key.is_public else None


def _encrypt(key: pgpy.PGPKey, content: bytes) -> str | None:
    """The armored ciphertext for `key`, or for its first subkey that encrypts; None when it cannot."""
    message = pgpy.PGPMessage.new(content, file=False)
    for candidate in [key, *key.subkeys.values()]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return str(candidate.encrypt(message))
        except (pgpy.errors.PGPError, NotImplementedError, ValueError, TypeError) as error:
            log.debug("pgp key cannot encrypt", error=str(error))
    return None


def encrypt_message(public_key: str | None, raw: bytes) -> bytes | None:
    """`raw` as an OpenPGP/MIME message for `public_key`; None when there is no usable key or the message
    is already encrypted (then it is stored as it is, as WildDuck does)."""
    if not public_key:
        return None
    found = _HEADER_END.search(raw)
    header_end, breaker_end = (found.start(), found.end()) if found else (len(raw), len(raw))
    header, breaker, body = raw[:header_end], raw[header_end:breaker_end], raw[breaker_end:]
    kept: list[list[str]] = []
    moved: list[list[str]] = []
    current: list[str] | None = None
    for index, line in enumerate(header.decode("latin-1").split("\r\n")):
        if index and current is not None and line[:1] in (" ", "\t"):
            current.append(line)
            continue
        current = [line]
        name = line.split(":", 1)[0].strip().lower()
        if name == "content-type":
            if line.split(":", 1)[1].split(";")[0].strip().lower() == "multipart/encrypted":
                return None
            moved.append(current)
        elif name == "content-transfer-encoding":
            moved.append(current)
        else:
            kept.append(current)
    key = _public_key(public_key)
    if key is None:
        return None
    inner = "\r\n".join("\r\n".join(lines) for lines in moved).encode("latin-1") + b"\r\n\r\n" + body
    ciphertext = _encrypt(key, inner)
    if ciphertext is None:
        return None
    boundary = "nm_" + secrets.token_hex(14)
    kept += [
        ['Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";', f' boundary="{boundary}"'],
        ["Content-Description: OpenPGP encrypted message"],
        ["Content-Transfer-Encoding: 7bit"],
    ]
    headers = "\r\n".join("\r\n".join(lines) for lines in kept).encode("latin-1")
    text = (
        "This is an OpenPGP/MIME encrypted message\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: application/pgp-encrypted\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        "Version: 1\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: application/octet-stream; name=encrypted.asc\r\n"
        "Content-Disposition: inline; filename=encrypted.asc\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        f"{ciphertext.replace(chr(10), chr(13) + chr(10))}"
        f"\r\n--{boundary}--\r\n"
    )
    return headers + (breaker or b"\r\n\r\n") + text.encode()
