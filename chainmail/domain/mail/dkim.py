"""DKIM signing keys, one per domain (a new key for a domain replaces the old one), and their DNS record."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from eventsourcing.domain import Aggregate, event

from chainmail.domain.errors import Invalid
from chainmail.domain.ids import aggregate_id

_PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----", re.S)
# PKCS#8 prefix of an Ed25519 private key: a raw 32-byte seed becomes a PEM key with it.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def pem_fingerprint(pem: str) -> str:
    """SHA-256 over the DER inside a PEM block, as colon-separated lowercase hex (`key-fingerprint`)."""
    match = _PEM_BODY.search(pem)
    der = base64.b64decode("".join(match.group(1).split())) if match else pem.encode()
    digest = hashlib.sha256(der).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class DkimKeyMaterial:
    private_key: str  # PEM
    public_key: str  # SPKI PEM
    dns_public_key: str  # base64 for `p=`: SPKI DER for RSA, the raw 32 bytes for Ed25519
    fingerprint: str


def dkim_key_material(private_key: str) -> DkimKeyMaterial:
    """Parse an RSA or Ed25519 private key (PEM, or a raw Ed25519 seed as 44 base64 characters)."""
    text = private_key.strip()
    if len(text) == 44 and not text.startswith("-----"):
        try:
            seed = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("Invalid base64 key") from None
        der = ED25519_PKCS8_PREFIX + seed
        text = "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PRIVATE KEY-----"
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise _invalid(str(error)) from None
    public = key.public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        dns = base64.b64encode(raw).decode()
    elif isinstance(key, rsa.RSAPrivateKey):
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        dns = base64.b64encode(der).decode()
    else:
        raise _invalid("Only RSA and Ed25519 keys can sign DKIM")
    return DkimKeyMaterial(text, public_pem.decode(), dns, pem_fingerprint(text))


def _invalid(reason: str) -> Invalid:
    return Invalid("InputValidationError", "Invalid or incompatible private key. " + reason)


class DkimKey(Aggregate):
    @staticmethod
    def create_id(dkim_id: str) -> UUID:
        return aggregate_id("dkim", dkim_id)

    @event("Set")
    def __init__(
        self,
        dkim_id: str,
        domain: str,
        selector: str,
        description: str,
        private_key: str,
        public_key: str,
        dns_public_key: str,
        fingerprint: str,
        created_at: datetime,
    ) -> None:
        self.dkim_id, self.domain, self.deleted = dkim_id, domain, False

    @event("Replaced")
    def replace(
        self,
        selector: str,
        description: str,
        private_key: str,
        public_key: str,
        dns_public_key: str,
        fingerprint: str,
        created_at: datetime,
    ) -> None:
        pass

    @event("DomainChanged")
    def change_domain(self, domain: str) -> None:
        self.domain = domain

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
