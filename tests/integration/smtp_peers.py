"""A real SMTP peer for delivery tests: aiosmtpd on 127.0.0.1 that keeps what it accepts and answers RCPT TO
with whatever the test tells it (accept, 4xx, 5xx)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from tests.chain.anvil import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class PeerHandler:
    received: list[Received] = field(default_factory=list)
    answer: str = "250 OK"  # the reply to RCPT TO
    rcpt_answers: dict[str, str] = field(default_factory=dict)  # per recipient, over `answer`

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        reply = self.rcpt_answers.get(address, self.answer)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Queued"


@dataclass
class Peer:
    host: str
    port: int
    handler: PeerHandler

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def smtp_peer() -> Iterator[Peer]:
    handler = PeerHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Peer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
