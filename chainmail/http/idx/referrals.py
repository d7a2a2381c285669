"""Referrals on the indexer API: a wallet's own code (get-or-create, signed) and a code's statistics
(public; which wallets it brought and when, never from where)."""

from __future__ import annotations

from typing import Any

import falcon

from chainmail.domain.identity.referrals import CODE
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, path_wallet, signed_wallet
from chainmail.http.router import Router
from chainmail.projections import referral_codes
from chainmail.projections import wallet_logins as consumptions
from chainmail.system import System


class ReferralResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        identity = identity_of(self.system)
        signed_wallet(req, identity, wallet)
        code = identity.referral_code(wallet)
        with self.system.engine.connect() as conn:
            total, last = referral_codes.usage(conn, code.code)
        # The union of both client types (§4.21): totalReferrals == totalRedemptions.
        resp.media = envelope(
            {
                "walletAddress": wallet.address,
                "chainType": wallet.chain_type,
                "referralCode": code.code,
                "createdAt": code.at,
                "totalReferrals": total,
                "totalRedemptions": total,
                "lastUsedAt": last,
            }
        )


class ReferralStatsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, referralCode: str) -> None:
        code = referralCode.strip().upper()
        if not CODE.match(code):
            raise IndexerError(400, "INVALID_REFERRAL_CODE", "A referral code is 9 letters or digits")
        with self.system.engine.connect() as conn:
            owner = referral_codes.code(conn, code)
            if owner is None:
                raise IndexerError(404, "REFERRAL_CODE_NOT_FOUND", "Unknown referral code")
            used = consumptions.consumptions_of(conn, code)
            signed_in = consumptions.signed_in_among(conn, [row["wallet"] for row in used])
        entries: list[dict[str, Any]] = [
            {
                "walletAddress": row["wallet"],
                "chainType": row["chain_type"],
                "referralCode": row["referral_code"],
                "createdAt": row["consumed_at"],
            }
            for row in used
        ]
        # The types' shape (total, consumptions) and the client's (totalReferred, referredWallets); its tests
        # read totalReferrals and successfulReferrals (referred wallets that went on to sign in).
        resp.media = envelope(
            {
                "walletAddress": owner["wallet"],
                "chainType": owner["chain_type"],
                "referralCode": code,
                "total": len(entries),
                "totalReferred": len(entries),
                "totalReferrals": len(entries),
                "successfulReferrals": sum(1 for row in used if row["wallet"] in signed_in),
                "consumptions": entries,
                "referredWallets": [
                    {"walletAddress": e["walletAddress"], "chainType": e["chainType"], "createdAt": e["createdAt"]}
                    for e in entries
                ],
            }
        )


def add_routes(idx: Router, system: System) -> None:
    add_everywhere(idx, "/wallets/{walletAddress}/referral", ReferralResource(system))
    add_everywhere(idx, "/referrals/{referralCode}/stats", ReferralStatsResource(system))
