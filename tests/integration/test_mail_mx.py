"""MX lookups of outbound delivery, asked of a real DNS server (dnspython answering UDP on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.resolver
import dns.rrset
import pytest

from chainmail.mail.smtp_out import Attempt, Hop, Sender

ZONE = {
    "mx.test.": ["20 backup.mx.test.", "10 primary.mx.test."],
    "nullmx.test.": ["0 ."],
}
EXISTING_WITHOUT_MX = {"plain.test."}


def serve(sock: socket.socket) -> None:
    while True:
        try:
            wire, peer = sock.recvfrom(4096)
        except OSError:
            return
        query = dns.message.from_wire(wire)
        answer = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        if name in ZONE:
            answer.answer.append(dns.rrset.from_text_list(name, 300, "IN", "MX", ZONE[name]))
        elif name not in EXISTING_WITHOUT_MX:
            answer.set_rcode(dns.rcode.NXDOMAIN)
        answer.flags |= dns.flags.AA
        sock.sendto(answer.to_wire(), peer)


@pytest.fixture
def resolver() -> Iterator[dns.resolver.Resolver]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=serve, args=(sock,), daemon=True)
    thread.start()
    configured = dns.resolver.Resolver(configure=False)
    configured.nameservers = ["127.0.0.1"]
    configured.port = sock.getsockname()[1]
    yield configured
    sock.close()


def test_mx_hosts_are_tried_in_preference_order(resolver: dns.resolver.Resolver) -> None:
    sender = Sender("example.com", resolver=resolver, timeout=3)
    assert sender.mx("mx.test") == [Hop("primary.mx.test", 25), Hop("backup.mx.test", 25)]
    assert sender.mx("plain.test") == [Hop("plain.test", 25)]  # no MX: the domain itself (RFC 5321 5.1)


def test_a_domain_that_does_not_exist_or_takes_no_mail_bounces_and_a_dead_resolver_defers(
    resolver: dns.resolver.Resolver,
) -> None:
    sender = Sender("example.com", resolver=resolver, timeout=3)
    missing = sender.mx("nowhere.test")
    assert isinstance(missing, Attempt) and missing.outcome == "bounced" and missing.response.startswith("550")
    null = sender.mx("nullmx.test")
    assert isinstance(null, Attempt) and null.outcome == "bounced" and "null MX" in null.response
    dead = dns.resolver.Resolver(configure=False)
    dead.nameservers, dead.port = ["127.0.0.1"], 9  # nothing answers there
    silent = Sender("example.com", resolver=dead, timeout=0.5).mx("mx.test")
    assert isinstance(silent, Attempt) and silent.outcome == "deferred"
