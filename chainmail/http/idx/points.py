"""Points on the indexer API: a wallet's balance (signed), awards from the mail server (IP restricted),
the leaderboard and site statistics (public)."""

from __future__ import annotations

import re
import threading
from datetime import datetime
from typing import Annotated, Any

import falcon
from pydantic import BaseModel, ConfigDict, Field

from chainmail.domain.identity.signatures import Wallet
from chainmail.domain.rewards.points import DailyCapReached
from chainmail.http.errors import IndexerError
from chainmail.http.idx.internal import PeerCheck
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, path_wallet, signed_wallet
from chainmail.http.router import Router
from chainmail.http.validation import indexer_body
from chainmail.http.wire import js_iso
from chainmail.identity.settings import identity_settings
from chainmail.projections import points as points_model
from chainmail.projections import points_stats
from chainmail.rewards.awards import award
from chainmail.rewards.settings import rewards_settings
from chainmail.system import System

MAX_LEADERBOARD = 100


def _iso(moment: datetime | None) -> str | None:
    return js_iso(moment) if moment is not None else None


def points_data(wallet: Wallet, row: dict[str, Any] | None) -> dict[str, Any]:
    """`IndexerPointsData`: a new wallet has a zero record with no rank."""
    if row is None:
        return {
            "walletAddress": wallet.address,
            "chainType": wallet.chain_type,
            "pointsEarned": "0",
            "totalActivities": 0,
            "leaderboardRank": None,
            "rank": None,
            "lastActivityDate": None,
            "createdAt": None,
            "updatedAt": None,
        }
    last_activity = _iso(row["last_activity_at"])
    return {
        "walletAddress": row["wallet"],
        "chainType": row["chain_type"],
        "pointsEarned": str(row["points_earned"]),
        "totalActivities": row["total_activities"],
        "leaderboardRank": row["rank"],
        "rank": row["rank"],
        "lastActivityDate": last_activity,
        "createdAt": _iso(row["created_at"]),
        "updatedAt": last_activity,
    }


class AddPointsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")]
    referrer: Annotated[str | None, Field(max_length=64)] = None


class PointsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        signed_wallet(req, identity_of(self.system), wallet, allow_delegate=True)
        with self.system.engine.connect() as conn:
            row = points_model.balance_of(conn, wallet.address)
        resp.media = envelope(points_data(wallet, row))


class AddPointsResource:
    def __init__(self, system: System, peers: PeerCheck) -> None:
        self.system, self.peers = system, peers

    def on_post(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        self.peers.require(req)
        wallet = path_wallet(walletAddress)
        body = indexer_body(AddPointsBody, req.context.params)
        try:
            given = award(self.system, wallet.address, body.action, referrer=body.referrer or None)
        except DailyCapReached as capped:
            raise IndexerError(429, "DAILY_LIMIT_REACHED", str(capped)) from None
        with self.system.engine.connect() as conn:
            earned = points_model.points_earned(conn, wallet.address)
        resp.media = envelope(
            {
                "walletAddress": wallet.address,
                "chainType": wallet.chain_type,
                "action": body.action,
                "pointsAwarded": given.points,
                "pointsEarned": str(earned),
            }
        )


class LeaderboardResource:
    """The top of the leaderboard. It ranks every wallet, a read model of the global order that
    DESIGN.md lets lag behind the writes: the top 100 entries are read once and answered from for
    `leaderboard_seconds` (per process), whatever count is asked for. A wallet's own balance and rank
    (`PointsResource`) are read at every request."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.seconds = rewards_settings(system.settings).leaderboard_seconds
        self.lock = threading.Lock()
        self.top: tuple[datetime, list[dict[str, Any]]] | None = None  # when read, the entries (never changed)

    def on_get(self, req: falcon.Request, resp: falcon.Response, count: str) -> None:
        if not re.fullmatch(r"\d{1,3}", count) or not 1 <= int(count) <= MAX_LEADERBOARD:
            raise IndexerError(400, "INVALID_COUNT", f"count must be an integer from 1 to {MAX_LEADERBOARD}")
        resp.media = envelope({"leaderboard": self.entries()[: int(count)]})

    def entries(self) -> list[dict[str, Any]]:
        if self.seconds <= 0:
            return self._read()
        if (top := self.top) is not None and self._fresh(top[0]):
            return top[1]
        with self.lock:  # one thread of the process reads; the others wait for its answer
            if (top := self.top) is not None and self._fresh(top[0]):
                return top[1]
            read_at = self.system.clock()
            self.top = (read_at, self._read())
            return self.top[1]

    def _read(self) -> list[dict[str, Any]]:
        with self.system.engine.connect() as conn:
            rows = points_model.leaderboard(conn, MAX_LEADERBOARD)
        return [points_data(Wallet(r["wallet"], r["chain_type"]), r) for r in rows]

    def _fresh(self, read_at: datetime) -> bool:
        return 0 <= (self.system.clock() - read_at).total_seconds() < self.seconds  # a clock set back: read


class SiteStatsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.system.engine.connect() as conn:
            stats = points_stats.site_stats(conn)
        resp.media = envelope(
            {
                "totalPoints": str(stats["total_points"]),
                "totalUsers": stats["total_users"],
                "lastUpdated": _iso(stats["last_updated"]),
            }
        )


def add_routes(idx: Router, system: System) -> None:
    peers = PeerCheck(identity_settings(system.settings))
    add_everywhere(idx, "/wallets/{walletAddress}/points", PointsResource(system))
    add_everywhere(idx, "/wallets/{walletAddress}/points/add", AddPointsResource(system, peers))
    add_everywhere(idx, "/points/leaderboard/{count}", LeaderboardResource(system))
    add_everywhere(idx, "/points/site-stats", SiteStatsResource(system))
