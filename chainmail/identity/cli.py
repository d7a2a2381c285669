"""`chainmail oauth-client add|show`: register OAuth clients of the identity provider."""

from __future__ import annotations

import argparse
import json
from typing import Any

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.oauth import SCOPES, NewClient, OAuthRefused


def add_parser(commands: Any) -> None:
    cmd = commands.add_parser("oauth-client", help="register and show OAuth clients")
    sub = cmd.add_subparsers(dest="oauth_command", required=True)
    add = sub.add_parser("add", help="register a client; a confidential client's secret is printed once")
    add.add_argument("client_id")
    add.add_argument("--name", required=True)
    add.add_argument("--redirect-uri", action="append", required=True, help="repeatable")
    add.add_argument("--scope", default="openid profile email wallet offline_access", help=f"of: {' '.join(SCOPES)}")
    add.add_argument("--uri", help="the client's home page")
    add.add_argument("--public", action="store_true", help="a public client (no secret; PKCE required)")
    add.add_argument("--no-pkce", action="store_true", help="confidential clients only: PKCE optional")
    show = sub.add_parser("show", help="print a client")
    show.add_argument("client_id")


def run(system: Any, args: argparse.Namespace) -> int:
    identity = system.context(Identity)
    if args.oauth_command == "add":
        try:
            secret = identity.register_client(
                NewClient(
                    client_id=args.client_id,
                    name=args.name,
                    redirect_uris=args.redirect_uri,
                    scopes=args.scope.split(),
                    uri=args.uri,
                    confidential=not args.public,
                    require_pkce=not args.no_pkce,
                )
            )
        except OAuthRefused as refused:
            raise SystemExit(f"{refused.error}: {refused.description}") from None
        print(json.dumps({"client_id": args.client_id, "client_secret": secret}))
        return 0
    client = identity.oauth_client(args.client_id)
    if client is None:
        raise SystemExit(f"unknown client {args.client_id}")
    print(
        json.dumps(
            {
                "client_id": client.client_id,
                "client_name": client.name,
                "redirect_uris": client.redirect_uris,
                "scope": " ".join(client.scopes),
                "require_pkce": client.require_pkce,
                "public": client.is_public,
            }
        )
    )
    return 0
