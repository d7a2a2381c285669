"""Settings of wallet identity and the OAuth provider (TOML `[identity]`, or `CHAINMAIL_IDENTITY` as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class IdentitySettings(BaseModel):
    # Peers allowed on the internal routes (`POST /authenticate`, `POST /addresses/:a/verify`):
    # WildDuck and the points back ends. X-Forwarded-For counts only when the peer is a trusted proxy.
    internal_allowed_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    trusted_proxies: list[str] = Field(default_factory=list)
    # A sign-in nonce (and every message signed over it) lives this long; then a new one is issued.
    message_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    # Domains a sign-in message may name (e.g. ["0xmail.box", "app.0xmail.box"]); empty accepts any, so a
    # deployment serving third-party front ends should list its own to stop signatures phished elsewhere.
    signin_domains: list[str] = Field(default_factory=list)
    # An EVM RPC (e.g. mainnet) asked for EIP-1271 contract-wallet signatures when no key signed; unset: EOAs only.
    eip1271_rpc_url: str | None = None
    # An Ethereum mainnet RPC for ENS names (forward and reverse records); unset: ENS names do not resolve.
    ens_rpc_url: str | None = None
    # The indexer's own wallet: `indexer: {message, signature}` submissions are signed by it.
    indexer_wallet_address: str | None = None
    # RevenueCat (nameservice entitlement).
    revenuecat_base_url: str = "https://api.revenuecat.com"
    revenuecat_api_key: str | None = None
    revenuecat_api_key_sandbox: str | None = None
    revenuecat_entitlement: str = "nameservice"
    revenuecat_timeout: float = Field(default=5.0, gt=0)
    cache_seconds: int = Field(default=300, ge=0)
    # OAuth 2 / OpenID Connect provider.
    jwt_issuer: str = "https://auth.0xmail.box"
    public_url: str | None = None  # where clients reach the indexer, e.g. https://api.example.com/idx
    oauth_signing_key_file: Path | None = None  # RSA private key (PEM); generated and kept in the database when absent
    oauth_session_ttl: int = Field(default=300, ge=10)
    oauth_code_ttl: int = Field(default=600, ge=10)
    oauth_access_token_ttl: int = Field(default=3600, ge=10)
    oauth_refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=60)
    # Requests per minute on the authentication and OAuth routes, per wallet / client / peer.
    rate_limit_per_minute: int = Field(default=60, ge=1)


def identity_settings(settings: Any) -> IdentitySettings:
    value = getattr(settings, "identity", None)
    return value if isinstance(value, IdentitySettings) else IdentitySettings()
