"""Indexer routes over the chain read models: `GET /blocks` (public indexing status) and the delegation
lookups `GET /delegations/from|to/:walletAddress` (behind the wallet-signature check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from chainmail.domain.chain.chains import KNOWN_CHAINS, chain_specs
from chainmail.domain.chain.solana import is_solana_chain
from chainmail.domain.identity.signatures import Wallet
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, path_wallet, signed_wallet
from chainmail.http.router import Router
from chainmail.projections.blocks import chain_status
from chainmail.projections.delegations import delegated_to, delegators_of
from chainmail.projections.tracking import failures as tracked_failures
from chainmail.system import System

# A chain this close to its head counts as synced.
SYNCED_LAG = 5

SignatureCheck = Callable[[falcon.Request, Wallet], None]


def wallet_signature(system: System) -> SignatureCheck:
    """The identity context's check: the path wallet, or its active delegate (read-only routes), signed."""

    def check(req: falcon.Request, wallet: Wallet) -> None:
        signed_wallet(req, identity_of(system), wallet, allow_delegate=True)

    return check


def _delegate_data(row: dict[str, Any], wallet_key: str) -> dict[str, Any]:
    return {
        "walletAddress": row[wallet_key],
        "chainType": "solana" if is_solana_chain(int(row["chain_id"])) else "evm",
        "chainId": int(row["chain_id"]),
        "txHash": row["tx_hash"],
    }


class DelegatedToResource:
    """`GET /delegations/from/:walletAddress`: the wallet this address delegated to (latest, any chain)."""

    def __init__(self, system: System, require_wallet_signature: SignatureCheck) -> None:
        self.system, self.require_wallet_signature = system, require_wallet_signature

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        self.require_wallet_signature(req, wallet)
        with self.system.engine.connect() as conn:
            rows = delegated_to(conn, wallet.address)
        resp.media = envelope(_delegate_data(rows[0], "delegate") if rows else None)


class DelegatorsResource:
    """`GET /delegations/to/:walletAddress`: the wallets that delegated to this address."""

    def __init__(self, system: System, require_wallet_signature: SignatureCheck) -> None:
        self.system, self.require_wallet_signature = system, require_wallet_signature

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        wallet = path_wallet(walletAddress)
        self.require_wallet_signature(req, wallet)
        with self.system.engine.connect() as conn:
            rows = delegators_of(conn, wallet.address)
        resp.media = envelope({"from": [_delegate_data(row, "delegator") for row in rows]})


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _rate(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


class BlocksResource:
    """`GET /blocks`: per-chain indexing status (IndexerBlockStatusData); numbers as strings."""

    public = True

    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        settings = self.system.settings
        specs = {s.chain_id: s for s in chain_specs(settings.chains, enable_testnets=settings.enable_testnets)}
        with self.system.engine.connect() as conn:
            status = chain_status(conn)
            stopped = tracked_failures(conn)
        chains = []
        for chain_id in sorted(set(specs) | set(status)):
            spec, row = specs.get(chain_id), status.get(chain_id, {})
            known = KNOWN_CHAINS.get(chain_id)
            name = row.get("name") or (spec.name if spec else known.name if known else None)
            start = spec.start_block if spec else 0
            head, indexed, error = row.get("head_block"), row.get("indexed_block"), row.get("error")
            behind = max(head - indexed, 0) if head is not None and indexed is not None else None
            percentage = None
            if head is not None and indexed is not None:
                span = max(head - start + 1, 1)
                percentage = f"{min(max(indexed - start + 1, 0) / span * 100, 100):.2f}"
            state = "error" if error else "synced" if behind is not None and behind <= SYNCED_LAG else "syncing"
            # the indexer's pace as it last reported it (over its last minute), and the time left at that pace
            blocks_rate, events_rate = row.get("blocks_per_second"), row.get("events_per_second")
            eta = None
            if behind is not None and state == "syncing" and blocks_rate:
                eta = behind / blocks_rate
            item: dict[str, Any] = {
                "chain": name or f"chain-{chain_id}",
                "chainId": chain_id,
                "currentBlock": _text(head),
                "indexedBlock": _text(indexed),
                "percentage": percentage,
                "blocksBehind": _text(behind),
                "blocksPerSecond": _rate(blocks_rate),
                "eventsPerSecond": _rate(events_rate),
                "etaSeconds": _rate(0.0 if state == "synced" else eta),
                "rpcUrl": row.get("rpc_url") or (spec.public_rpc_url if spec else None),
                "status": state,
            }
            if error:
                item["error"] = error
            chains.append(item)
        counts = {k: sum(1 for c in chains if c["status"] == k) for k in ("synced", "syncing", "error")}
        # a read model stopped at an event it could not fold answers stale until the cause is fixed
        health = "degraded" if counts["error"] or stopped else "syncing" if counts["syncing"] else "healthy"
        data = {
            "chains": chains,
            "stoppedReadModels": [{"name": name, "error": error} for name, error in sorted(stopped.items())],
            "totalChains": len(chains),
            "syncedChains": counts["synced"],
            "overallHealth": health,
            "summary": {
                "syncedCount": counts["synced"],
                "syncingCount": counts["syncing"],
                "errorCount": counts["error"],
            },
        }
        body = envelope(data)
        data["timestamp"] = body["timestamp"]
        resp.media = body


def add_routes(idx: Router, system: System, *, require_wallet_signature: SignatureCheck | None = None) -> None:
    check = require_wallet_signature or wallet_signature(system)
    add_everywhere(idx, "/blocks", BlocksResource(system))
    add_everywhere(idx, "/delegations/from/{walletAddress}", DelegatedToResource(system, check))
    add_everywhere(idx, "/delegations/to/{walletAddress}", DelegatorsResource(system, check))
