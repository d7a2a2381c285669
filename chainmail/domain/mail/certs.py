"""TLS certificates, one per server name (a new one replaces the old), with their names and expiry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from eventsourcing.domain import Aggregate, event

from chainmail.domain.errors import Invalid
from chainmail.domain.ids import aggregate_id
from chainmail.domain.mail.dkim import pem_fingerprint

# WildDuck drops an unfinished ACME challenge after two hours (`lib/acme/acme-challenge.js`).
ACME_CHALLENGE_TTL = timedelta(hours=2)

_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class CertMaterial:
    cert: str  # the server certificate, PEM
    chain: list[str]  # the rest of the bundle and `ca`, PEM
    alt_names: list[str]
    expires: datetime
    fingerprint: str  # over the private key, as WildDuck


def cert_material(private_key: str, cert_bundle: str, ca: list[str]) -> CertMaterial:
    """Parse a PEM certificate (or certificate + chain) and check that the private key belongs to it."""
    blocks = _CERT_BLOCK.findall(cert_bundle)
    if not blocks:
        raise Invalid("InputValidationError", "Failed to parse certificate")
    try:
        cert = x509.load_pem_x509_certificate(blocks[0].encode())
        key = serialization.load_pem_private_key(private_key.strip().encode(), password=None)
        for extra in [*blocks[1:], *ca]:
            x509.load_pem_x509_certificate(extra.strip().encode())
    except (ValueError, TypeError) as error:
        raise Invalid("InputValidationError", f"Failed to parse certificate or key. {error}") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise Invalid("InputValidationError", "Private key does not match the certificate")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alt_names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        alt_names = []
    expires = cert.not_valid_after_utc.astimezone(UTC)
    return CertMaterial(blocks[0], [*blocks[1:], *ca], alt_names, expires, pem_fingerprint(private_key))


class TlsCert(Aggregate):
    @staticmethod
    def create_id(cert_id: str) -> UUID:
        return aggregate_id("cert", cert_id)

    @event("Set")
    def __init__(
        self,
        cert_id: str,
        servername: str,
        description: str,
        acme: bool,
        private_key: str,
        cert: str,
        chain: list[str],
        alt_names: list[str],
        expires: datetime | None,
        fingerprint: str,
        created_at: datetime,
    ) -> None:
        self.cert_id, self.servername, self.deleted = cert_id, servername, False
        self.acme_token: str | None = None

    @event("Replaced")
    def replace(
        self,
        description: str,
        acme: bool,
        private_key: str,
        cert: str,
        chain: list[str],
        alt_names: list[str],
        expires: datetime | None,
        fingerprint: str,
        created_at: datetime,
    ) -> None:
        pass

    @event("AcmeChallengeRecorded")
    def record_acme_challenge(
        self, servername: str, token: str, key_authorization: str, recorded_at: datetime, expires_at: datetime
    ) -> None:
        """An ACME server will fetch `key_authorization` at /.well-known/acme-challenge/`token` (http-01)."""
        self.acme_token = token

    @event("AcmeChallengeCleared")
    def clear_acme_challenge(self, token: str) -> None:
        self.acme_token = None

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
