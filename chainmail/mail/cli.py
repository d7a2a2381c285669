"""The mail transport commands: `chainmail deliver` (the outbound queue worker) and `chainmail smtp`
(the inbound SMTP/LMTP receiver)."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from rich.console import Console

from chainmail.config import Settings
from chainmail.heap import freeze_startup_heap
from chainmail.system import System

COMMANDS = ("deliver", "smtp")


def add_parsers(commands: Any) -> None:
    deliver = commands.add_parser("deliver", help="send queued outbound mail until stopped")
    deliver.add_argument("--once", action="store_true", help="one pass over the due deliveries, then exit")
    smtp = commands.add_parser("smtp", help="receive mail for local addresses over SMTP or LMTP until stopped")
    smtp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    smtp.add_argument("--port", type=int, default=2525, help="port to listen on (default 2525)")
    smtp.add_argument("--lmtp", action="store_true", help="speak LMTP (behind an MTA) instead of SMTP")


def _stop_event() -> threading.Event:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


def run(settings: Settings, args: argparse.Namespace, console: Console) -> None:
    system = System(settings)
    try:
        if args.command == "deliver":
            deliver(system, args, console)
        else:
            receive(system, args, console)
    finally:
        system.close()


def deliver(system: System, args: argparse.Namespace, console: Console) -> None:
    from chainmail.mail.queue import OutboundQueue

    queue = OutboundQueue(system)
    if args.once:
        console.print(f"attempted {queue.run_once()} deliveries")
        return
    stopping = _stop_event()
    relay = system.settings.smtp_relay or "MX lookups"
    console.print(f"delivering outbound mail via {relay} as {queue.worker}")
    freeze_startup_heap()
    queue.run_forever(system.settings.deliver_poll_interval, stop=stopping.is_set)


def receive(system: System, args: argparse.Namespace, console: Console) -> None:
    from chainmail.mail.smtp_in import ReceiverController

    controller = ReceiverController(system, args.host, args.port, lmtp=args.lmtp)
    stopping = _stop_event()
    controller.start()
    freeze_startup_heap()
    console.print(f"receiving mail with {'LMTP' if args.lmtp else 'SMTP'} on {args.host}:{args.port}")
    try:
        stopping.wait()
    finally:
        controller.stop()
