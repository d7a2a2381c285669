"""Secrets at rest: TOTP seeds, DKIM/TLS private keys and the OAuth signing key sealed with the configured
secret (AES-256-GCM).

WildDuck encrypts these with `totp.secret`, `dkim.secret` and `certs.secret`; here one `CHAINMAIL_SECRET`
yields a key per kind (HKDF-SHA256), so events and read models hold only `$aesgcm$<kind>$<base64>`.
A value without that prefix was written before a secret was configured and is used as it is; without a
secret, values are stored as given, as before.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

Kind = Literal["totp", "dkim", "certs", "oauth"]
PREFIX = "$aesgcm$"
NONCE_SIZE = 12


class SealError(Exception):
    """A sealed value could not be opened: the secret changed or the value was altered."""


class Sealer:
    def __init__(self, secret: str | None, randbytes: Callable[[int], bytes]) -> None:
        self.randbytes = randbytes
        self._keys: dict[str, AESGCM] = {}
        self._secret = secret.encode() if secret else None

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def _key(self, kind: Kind) -> AESGCM:
        key = self._keys.get(kind)
        if key is None:
            assert self._secret is not None
            hkdf = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"chainmail secrets at rest: " + kind.encode()
            )
            key = self._keys[kind] = AESGCM(hkdf.derive(self._secret))
        return key

    def seal(self, kind: Kind, value: str) -> str:
        """The value to store: ciphertext when a secret is configured (empty stays empty)."""
        if not self.enabled or not value or value.startswith(PREFIX):
            return value
        nonce = self.randbytes(NONCE_SIZE)
        sealed = self._key(kind).encrypt(nonce, value.encode(), kind.encode())
        return f"{PREFIX}{kind}${base64.b64encode(nonce + sealed).decode()}"

    def open(self, kind: Kind, value: str) -> str:
        """The clear value of a stored one (values stored before the secret was set pass through)."""
        if not value.startswith(PREFIX):
            return value
        if not self.enabled:
            raise SealError("a sealed secret is stored but no secret is configured")
        stored_kind, _, payload = value[len(PREFIX) :].partition("$")
        try:
            raw = base64.b64decode(payload, validate=True)
            return self._key(kind).decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], stored_kind.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag) as error:
            raise SealError(f"cannot open a sealed {kind} secret") from error
