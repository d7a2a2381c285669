"""Solana ingestion routes: `POST /solana/webhook` (Helius deliveries, checked by their `Authorization`
secret), `POST /solana/setup-webhooks` (internal peers only), `GET /solana/status` (public) and
`POST /solana/test-transaction` (development only)."""

from __future__ import annotations

from typing import Any, Literal

import falcon
from pydantic import BaseModel, ConfigDict

from chainmail.domain.bounds import ChainIdParam, SlotParam
from chainmail.domain.chain.solana import canonical_chain_id
from chainmail.http.bodies import loads_json, read_body
from chainmail.http.errors import IndexerError
from chainmail.http.idx.internal import PeerCheck
from chainmail.http.idx.signature import add_everywhere, envelope
from chainmail.http.params import refuse_bad_text
from chainmail.http.router import Router
from chainmail.http.validation import indexer_body
from chainmail.identity.settings import identity_settings
from chainmail.indexer.solana.helius import Helius
from chainmail.indexer.solana.ingest import WEBHOOK_PATH, Delivery, SolanaIngestion
from chainmail.indexer.solana.payloads import BadDelivery
from chainmail.indexer.solana.synthetic import EVENT_TYPES, synthetic
from chainmail.projections.solana_networks import network_rows
from chainmail.system import System


def _ingested(ingestion: SolanaIngestion, network: Any, body: Any) -> Delivery:
    try:
        return ingestion.ingest(network, body)
    except BadDelivery as bad:
        raise IndexerError(400, "INVALID_PAYLOAD", str(bad)) from None


def _delivery_data(delivery: Delivery, chain_id: int) -> dict[str, Any]:
    return {
        "processed": delivery.processed,
        "total": delivery.total,
        "recorded": delivery.recorded,
        "duplicates": delivery.duplicates,
        "chainId": chain_id,
    }


class WebhookResource:
    """Helius posts a JSON array of transactions; the `Authorization` header is the webhook's secret."""

    raw_body = True  # an array, not the parameter object the middleware reads

    def __init__(self, ingestion: SolanaIngestion) -> None:
        self.ingestion = ingestion

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        network = self.ingestion.network_for(req.get_header("Authorization"))
        if network is None:
            raise IndexerError(403, "FORBIDDEN", "Missing or unknown webhook authorization")
        limit = self.ingestion.settings.max_delivery_bytes
        raw = read_body(req, limit)
        if raw is None:
            raise falcon.HTTPContentTooLarge()
        try:
            body = loads_json(raw)
        except ValueError:  # malformed, nested too deeply, or with a lone surrogate
            raise IndexerError(400, "INVALID_PAYLOAD", "The body is not JSON") from None
        refuse_bad_text({"body": body}, indexer=True)
        delivery = _ingested(self.ingestion, network, body)
        data = _delivery_data(delivery, network.chain_id)
        # older clients read processed/total beside `success`
        resp.media = {**envelope(data), "processed": delivery.processed, "total": delivery.total}


class SetupWebhooksResource:
    """Creates or updates the Helius webhook of every network (Proposal: internal peers only, as it rotates
    the webhook secrets and spends the Helius key)."""

    def __init__(self, system: System, ingestion: SolanaIngestion, peers: PeerCheck) -> None:
        self.system, self.ingestion, self.peers = system, ingestion, peers

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.peers.require(req)
        config = self.ingestion.settings
        if not config.helius_api_key:
            raise IndexerError(503, "SOLANA_NOT_CONFIGURED", "HELIUS_API_KEY is not configured")
        base = config.api_url or identity_settings(self.system.settings).public_url
        base = (base or f"{req.prefix}{self.system.settings.idx_prefix}").rstrip("/")
        helius = Helius(config.helius_base_url, config.helius_api_key, timeout=config.helius_timeout)
        try:
            results = self.ingestion.setup_webhooks(
                base + WEBHOOK_PATH, helius, lambda: self.ingestion.chain.ids.token_hex(32)
            )
        finally:
            helius.close()
        resp.media = envelope({"results": results})


class StatusResource:
    public = True

    def __init__(self, system: System, ingestion: SolanaIngestion) -> None:
        self.system, self.ingestion = system, ingestion

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.system.engine.connect() as conn:
            rows = network_rows(conn)
        indexers = []
        for chain_id, network in self.ingestion.networks.items():
            row = rows.get(chain_id, {})
            configured = self.ingestion.settings.networks.get(chain_id)
            indexers.append(
                {
                    "chainId": chain_id,
                    "initialized": bool(row.get("webhook_id")) or bool(configured and configured.auth_header),
                    "networkName": network.name,
                    "programId": network.program_id,
                    "webhookId": row.get("webhook_id"),
                    "lastSlot": row.get("slot"),
                    "instructions": int(row.get("instructions") or 0),
                }
            )
        data = {
            "solanaIndexers": indexers,
            "totalIndexers": len(indexers),
            "configured": bool(self.ingestion.settings.helius_api_key),
        }
        resp.media = envelope(data)


class TestTransactionInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chainId: ChainIdParam | None = None
    eventType: Literal[EVENT_TYPES] | None = None  # type: ignore[valid-type]
    transaction: dict[str, Any] | None = None  # older clients: one Helius transaction to ingest
    slot: SlotParam | None = None


class TestTransactionResource:
    """Development only: a synthetic transaction (a fresh keypair signs a real Mailer instruction) or a
    given one goes through the webhook's pipeline."""

    def __init__(self, system: System, ingestion: SolanaIngestion) -> None:
        self.system, self.ingestion = system, ingestion

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.ingestion.settings.dev_mode:
            raise IndexerError(403, "FORBIDDEN", "Test transactions are only available in development mode")
        body = indexer_body(TestTransactionInput, req.context.params)
        networks = self.ingestion.networks
        chain_id = canonical_chain_id(body.chainId) if body.chainId is not None else next(iter(networks), None)
        network = networks.get(chain_id) if chain_id is not None else None
        if network is None:
            raise IndexerError(400, "VALIDATION_ERROR", f"chainId {body.chainId} is not an indexed Solana network")
        event_type = body.eventType or "mail_sent"
        signature = None
        if body.transaction is not None:
            item = body.transaction
        else:
            slot = body.slot if body.slot is not None else self.ingestion.ledger.last_slot(network.chain_id) + 1
            now = int(self.ingestion.chain.clock().timestamp())
            tx = synthetic(network.program_id, event_type, slot, now)
            item, signature = tx.raw(), tx.signature
        delivery = _ingested(self.ingestion, network, [item])
        data = _delivery_data(delivery, network.chain_id)
        data.update(message="Test transaction processed", eventType=None if body.transaction else event_type)
        data["signature"] = signature or item.get("signature") or None
        resp.media = envelope(data)


def add_routes(idx: Router, system: System) -> None:
    ingestion = SolanaIngestion(system)
    peers = PeerCheck(identity_settings(system.settings))
    add_everywhere(idx, "/solana/webhook", WebhookResource(ingestion))
    add_everywhere(idx, "/solana/setup-webhooks", SetupWebhooksResource(system, ingestion, peers))
    add_everywhere(idx, "/solana/status", StatusResource(system, ingestion))
    add_everywhere(idx, "/solana/test-transaction", TestTransactionResource(system, ingestion))
