"""Sending one delivery: find the next hop (a fixed relay, a forward target's relay, or the recipient
domain's MX hosts), DKIM-sign with the sender domain's key, hand the message over with smtplib (or POST it
to an HTTP forward target), and say what happened: delivered, deferred (try again later) or bounced."""

from __future__ import annotations

import base64
import functools
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import dkim
import dns.exception
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from chainmail.mail.mime import parse_message

SIGNED_HEADERS = (b"from", b"sender", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc")
SIGNED_HEADERS += (b"mime-version", b"content-type", b"content-transfer-encoding", b"in-reply-to", b"references")
_BCC = re.compile(rb"^bcc:.*?(?=^\S|\Z)", re.I | re.M | re.S)


@dataclass(frozen=True)
class Attempt:
    outcome: str  # delivered, deferred, bounced
    response: str


@dataclass(frozen=True)
class Hop:
    host: str
    port: int
    secure: bool = False  # smtps: TLS from the first byte
    username: str | None = None
    password: str | None = None


def relay_hop(url: str) -> Hop:
    """`smtp://[user:pass@]host[:port]` (or `smtps://`) as the next hop."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "smtps"
    if not parts.hostname:
        raise ValueError(f"not a relay URL: {url}")
    return Hop(
        parts.hostname,
        parts.port or (465 if secure else 25),
        secure,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def without_bcc(raw: bytes) -> bytes:
    """The message as it leaves: the Bcc header stays only in the sender's stored copy."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = raw.partition(b"\n\n")
    return _BCC.sub(b"", head + b"\r\n").rstrip(b"\r\n") + separator + body


@functools.lru_cache(maxsize=64)
def _signing_material(private_pem: str) -> tuple[bytes, dict[str, Any]]:
    """What dkimpy signs with: the PEM for RSA, the base64 seed for Ed25519 (parsing a key costs ~100 ms)."""
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        seed = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return base64.b64encode(seed), {"signature_algorithm": b"ed25519-sha256"}
    return private_pem.encode(), {}


def sign(raw: bytes, key: dict[str, Any] | None) -> bytes:
    """Prepend a DKIM-Signature made with a row of the `dkim_keys` read model (RSA or Ed25519)."""
    if key is None:
        return raw
    material, options = _signing_material(key["private_key"])
    present = {name.lower().encode() for name, _ in parse_message(raw).headers}
    signature = dkim.sign(
        raw,
        key["selector"].encode(),
        key["domain"].encode("idna"),
        material,
        include_headers=[h for h in SIGNED_HEADERS if h in present],
        linesep=b"\r\n",
        **options,
    )
    return signature + raw


def sender_domain(raw: bytes, envelope_from: str) -> str:
    """The domain the message speaks for: the From header's, else the envelope sender's."""
    parsed = parse_message(raw)
    address = (parsed.from_ or [{"address": envelope_from}])[0].get("address") or envelope_from
    return address.rpartition("@")[2].lower()


class Sender:
    def __init__(
        self,
        hostname: str,
        relay: str | None = None,
        timeout: float = 30.0,
        resolver: dns.resolver.Resolver | None = None,
    ) -> None:
        self.hostname, self.relay, self.timeout = hostname, relay_hop(relay) if relay else None, timeout
        self.resolver = resolver
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def _tls(self, verified: bool) -> ssl.SSLContext:
        """One TLS context per kind, made when first needed (loading the CA bundle costs ~60 ms)."""
        context = self._contexts.get(verified)
        if context is None:
            context = ssl.create_default_context()
            if not verified:
                # Opportunistic STARTTLS between MTAs: encrypt when offered, names unchecked (RFC 7435).
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            self._contexts[verified] = context
        return context

    def send(self, envelope_from: str, recipient: str, raw: bytes, target: dict[str, Any] | None) -> Attempt:
        if target and target.get("type") == "http":
            return self._post(target["value"], envelope_from, recipient, raw)
        if target and target.get("type") == "relay":
            return self._smtp([relay_hop(target["value"])], envelope_from, recipient, raw)
        if target and target.get("type") == "mail":
            recipient = target["value"]
        if self.relay is not None:
            return self._smtp([self.relay], envelope_from, recipient, raw)
        hops = self.mx(recipient.rpartition("@")[2])
        if isinstance(hops, Attempt):
            return hops
        return self._smtp(hops, envelope_from, recipient, raw)

    def mx(self, domain: str) -> list[Hop] | Attempt:
        try:
            resolver = self.resolver or dns.resolver.get_default_resolver()
            answers = resolver.resolve(domain.encode("idna").decode(), "MX", lifetime=self.timeout)
        except dns.resolver.NXDOMAIN:
            return Attempt("bounced", f"550 5.1.2 Domain {domain} does not exist")
        except dns.resolver.NoAnswer:
            return [Hop(domain, 25)]  # RFC 5321 5.1: no MX, the domain's own address
        except (dns.exception.DNSException, UnicodeError) as error:
            return Attempt("deferred", f"451 4.4.3 MX lookup for {domain} failed: {error}")
        hosts = sorted(answers, key=lambda r: r.preference)  # type: ignore[attr-defined]
        if len(hosts) == 1 and str(hosts[0].exchange) == ".":  # type: ignore[attr-defined]
            return Attempt("bounced", f"556 5.1.10 Domain {domain} accepts no mail (null MX)")
        return [Hop(str(r.exchange).rstrip("."), 25) for r in hosts]  # type: ignore[attr-defined]

    def _smtp(self, hops: list[Hop], envelope_from: str, recipient: str, raw: bytes) -> Attempt:
        last = Attempt("deferred", "421 4.4.1 No mail exchanger could be reached")
        for hop in hops:
            try:
                return self._transaction(hop, envelope_from, recipient, raw)
            except smtplib.SMTPRecipientsRefused as error:
                code, text = error.recipients.get(recipient, (550, b"recipient refused"))
                return _answered(code, text)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
                return _answered(error.smtp_code, error.smtp_error)
            except smtplib.SMTPResponseException as error:
                last = _answered(error.smtp_code, error.smtp_error)
                if last.outcome == "bounced":
                    return last
            except (OSError, smtplib.SMTPException) as error:
                last = Attempt("deferred", f"421 4.4.1 {hop.host}:{hop.port}: {error or type(error).__name__}")
        return last

    def _transaction(self, hop: Hop, envelope_from: str, recipient: str, raw: bytes) -> Attempt:
        if hop.secure:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                hop.host, hop.port, self.hostname, self.timeout, context=self._tls(verified=True)
            )
        else:
            client = smtplib.SMTP(hop.host, hop.port, self.hostname, self.timeout)
        with client:
            client.ehlo_or_helo_if_needed()
            if not hop.secure and client.has_extn("starttls"):
                client.starttls(context=self._tls(verified=False))
                client.ehlo()
            if hop.username and hop.password:
                client.login(hop.username, hop.password)
            client.sendmail(envelope_from, [recipient], raw)
        return Attempt("delivered", f"250 Message accepted by {hop.host}:{hop.port}")

    def _post(self, url: str, envelope_from: str, recipient: str, raw: bytes) -> Attempt:
        request = urllib.request.Request(
            url,
            data=raw,
            method="POST",
            headers={"Content-Type": "message/rfc822", "X-Sender": envelope_from, "X-Recipient": recipient},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return Attempt("delivered", f"{answer.status} posted to {url}")
        except urllib.error.HTTPError as error:
            outcome = "deferred" if error.code >= 500 or error.code == 429 else "bounced"
            return Attempt(outcome, f"HTTP {error.code} from {url}")
        except (TimeoutError, OSError) as error:
            return Attempt("deferred", f"HTTP target {url} unreachable: {error}")


def _answered(code: int, text: bytes | str) -> Attempt:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return Attempt("deferred" if 400 <= code < 500 else "bounced", f"{code} {message}")
