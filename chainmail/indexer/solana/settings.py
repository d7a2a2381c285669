"""Settings of Solana ingestion (TOML `[solana]`, or `CHAINMAIL_SOLANA` as JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chainmail.domain.chain.solana import SOLANA_NETWORKS, SolanaNetwork


class SolanaNetworkSettings(BaseModel):
    enabled: bool = True
    program_id: str | None = None  # the Mailer program; the known deployment by default
    # A secret set on a Helius webhook by hand: its deliveries are accepted besides issued secrets.
    auth_header: str | None = None


class SolanaSettings(BaseModel):
    helius_api_key: str | None = None
    helius_base_url: str = "https://api.helius.xyz"
    helius_timeout: float = Field(default=10.0, gt=0)
    # Public URL of the indexer routes (the original's API_URL), e.g. https://api.example.com/idx; the
    # webhook is `{api_url}/solana/webhook`. Default: identity.public_url, else derived from the request.
    api_url: str | None = None
    # Keyed by chain id (-101 mainnet-beta, -102 devnet, -103 testnet); devnet and testnet are indexed
    # when listed here or when `enable_testnets` is on.
    networks: dict[int, SolanaNetworkSettings] = Field(default_factory=dict)
    # `POST /solana/test-transaction` feeds synthetic transactions through ingestion; never in production.
    dev_mode: bool = False
    max_delivery_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)


def solana_settings(settings: Any) -> SolanaSettings:
    value = getattr(settings, "solana", None)
    return value if isinstance(value, SolanaSettings) else SolanaSettings()


def solana_networks(settings: Any) -> list[SolanaNetwork]:
    """The Solana networks this deployment indexes, with their configured program ids."""
    config = solana_settings(settings)
    out = []
    for chain_id, known in sorted(SOLANA_NETWORKS.items(), reverse=True):
        network = config.networks.get(chain_id)
        if network is not None and not network.enabled:
            continue
        if known.testnet and network is None and not getattr(settings, "enable_testnets", False):
            continue
        program_id = (network.program_id if network else None) or known.program_id
        out.append(SolanaNetwork(chain_id, known.name, known.testnet, program_id, known.webhook_type))
    return out
