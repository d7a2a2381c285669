"""`chainmail acme-challenge set|clear`: how an ACME client publishes http-01 challenges.

The server name must have a certificate record (`POST /certs` with `acme: true` makes one), as in WildDuck;
the challenge is then served at `<api prefix>/.well-known/acme-challenge/<token>` for two hours.
"""

from __future__ import annotations

import argparse
from typing import Any

from chainmail.domain.errors import DomainError
from chainmail.domain.mail.names import normalize_domain


def add_parser(commands: Any) -> None:
    cmd = commands.add_parser("acme-challenge", help="publish or withdraw an ACME http-01 challenge")
    sub = cmd.add_subparsers(dest="acme_command", required=True)
    record = sub.add_parser("set", help="publish KEYAUTH at /.well-known/acme-challenge/TOKEN for SERVERNAME")
    record.add_argument("servername")
    record.add_argument("token")
    record.add_argument("key_authorization")
    clear = sub.add_parser("clear", help="withdraw the challenge TOKEN of SERVERNAME")
    clear.add_argument("servername")
    clear.add_argument("token")


def run(system: Any, args: argparse.Namespace) -> int:
    servername = normalize_domain(args.servername)
    try:
        if args.acme_command == "set":
            system.mail.record_acme_challenge(servername, args.token, args.key_authorization)
            print(f"challenge {args.token} published for {servername}")
            return 0
        if system.mail.clear_acme_challenge(servername, args.token):
            print(f"challenge {args.token} withdrawn for {servername}")
            return 0
        print(f"no challenge {args.token} for {servername}")
        return 1
    except DomainError as refused:
        print(f"{servername}: {refused.message}")
        return 2
