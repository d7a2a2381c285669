"""Solana ingestion through Helius: which network a delivery belongs to (by its `Authorization`
secret), the delivery recorded in one save, and the webhooks set up at Helius."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.solana import SolanaLedger, SolanaNetwork
from chainmail.indexer.solana.decoding import mailer_calls
from chainmail.indexer.solana.helius import Helius, HeliusError
from chainmail.indexer.solana.payloads import parse_delivery
from chainmail.indexer.solana.settings import solana_networks, solana_settings

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/solana/webhook"


@dataclass(frozen=True)
class Delivery:
    total: int  # transactions in the delivery
    processed: int  # successful transactions that called the Mailer
    recorded: int  # Mailer instructions recorded now (0 for a redelivery)
    duplicates: int  # Mailer instructions recorded before


class SolanaIngestion:
    def __init__(self, system: Any) -> None:
        self.system = system
        self.settings = solana_settings(system.settings)
        self.networks = {n.chain_id: n for n in solana_networks(system.settings)}
        self.chain = system.context(Chain)
        self.ledger = SolanaLedger(self.chain)

    def network_for(self, authorization: str | None) -> SolanaNetwork | None:
        """The network whose webhook secret the `Authorization` header carries, if any."""
        if not authorization:
            return None
        for chain_id, network in self.networks.items():
            configured = self.settings.networks.get(chain_id)
            static = configured.auth_header if configured else None
            if static and hmac.compare_digest(static.encode(), authorization.encode()):
                return network
            hook = self.ledger.webhook(chain_id)
            if hook is not None and hook.accepts(authorization):
                return network
        return None

    def ingest(self, network: SolanaNetwork, body: Any) -> Delivery:
        """Record a delivery's Mailer instructions; BadDelivery (nothing recorded) when it is unreadable."""
        transactions = parse_delivery(body, network.program_id)
        calls = mailer_calls(transactions, network.program_id)
        recorded = self.ledger.record(network.chain_id, calls)
        processed = sum(1 for tx in transactions if not tx.failed and tx.calls)
        return Delivery(len(transactions), processed, recorded.new, recorded.duplicates)

    def setup_webhooks(self, callback_url: str, helius: Helius, new_secret: Callable[[], str]) -> list[dict[str, Any]]:
        """Create or update one raw webhook per network at Helius, each with a fresh secret."""
        results: list[dict[str, Any]] = []
        try:
            existing = helius.list_webhooks()
        except HeliusError as error:
            return [{"chainId": str(c), "status": "error", "error": str(error)} for c in self.networks]
        for chain_id, network in self.networks.items():
            result: dict[str, Any] = {"chainId": str(chain_id), "networkName": network.name}
            if network.webhook_type is None:
                results.append({**result, "status": "error", "error": f"Helius has no webhooks on {network.name}"})
                continue
            secret = new_secret()
            # recorded first: a delivery signed with it may arrive before Helius's answer does
            self.ledger.issue_secret(chain_id, secret)
            body = {
                "webhookURL": callback_url,
                "transactionTypes": ["ANY"],
                "accountAddresses": [network.program_id],
                "webhookType": network.webhook_type,
                "authHeader": secret,
            }
            match = next(
                (
                    w
                    for w in existing
                    if w.get("webhookURL") == callback_url
                    and w.get("webhookType") == network.webhook_type
                    and isinstance(w.get("webhookID"), str)
                ),
                None,
            )
            try:
                if match is not None:
                    answer = helius.update_webhook(match["webhookID"], body)
                else:
                    answer = helius.create_webhook(body)
            except HeliusError as error:
                log.warning("helius webhook setup failed", chain=chain_id, error=str(error))
                results.append({**result, "status": "error", "error": str(error)})
                continue
            self.ledger.register_webhook(
                chain_id, answer["webhookID"], callback_url, network.webhook_type, network.program_id
            )
            action = "updated" if match is not None else "created"
            results.append({**result, "status": "success", "webhookId": answer["webhookID"], "action": action})
        return results
