"""One settings object, read from `CHAINMAIL_*` environment variables and an optional TOML file."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from chainmail.identity.settings import IdentitySettings
from chainmail.identity.sumsub import KycSettings
from chainmail.indexer.solana.settings import SolanaSettings
from chainmail.rewards.settings import RewardsSettings

CONFIG_ENV = "CHAINMAIL_CONFIG"


class ChainSettings(BaseModel):
    """One EVM chain for `chainmail index` (TOML `[chains.<chain id>]`); contract defaults come from
    `chainmail.domain.chain.chains` for the known chains."""

    rpc_url: str | None = None
    enabled: bool = True
    name: str | None = None
    max_rps: float = Field(default=10.0, gt=0)
    polling_interval: float = Field(default=2.0, gt=0)
    confirmations: int = Field(default=12, ge=0)
    use_finalized_tag: bool = False
    max_block_range: int = Field(default=10_000, ge=1)  # an upper bound: ranges are sized by log density
    concurrency: int = Field(default=4, ge=1, le=64)
    receipts: bool = False  # eth_getBlockReceipts per block with logs: gas used and price of its transactions
    # worker processes that read and decode pages once a backfill proves heavy; 0 keeps it all in threads
    decode_processes: int = Field(default=1, ge=0, le=16)
    mailer: str | None = None
    mailer_start_block: int | None = Field(default=None, ge=0)
    threedns: str | None = None
    threedns_start_block: int | None = Field(default=None, ge=0)


class Settings(BaseSettings):
    """Everything a chainmail process needs to know; environment beats the TOML file beats defaults."""

    model_config = SettingsConfigDict(env_prefix="CHAINMAIL_", extra="ignore")

    database_url: str = "sqlite:///var/chainmail.sqlite"
    var_dir: Path = Path("var")
    api_prefix: str = "/api"
    idx_prefix: str = "/idx"
    api_access_token: str | None = None
    api_access_control: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    email_domain: str = Field(default_factory=lambda: socket.gethostname().lower())
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    projection_batch_size: int = Field(default=1000, ge=1, le=100_000)
    projection_poll_interval: float = Field(default=0.2, gt=0)
    enable_testnets: bool = False
    chains: dict[int, ChainSettings] = Field(default_factory=dict)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    solana: SolanaSettings = Field(default_factory=SolanaSettings)
    rewards: RewardsSettings = Field(default_factory=RewardsSettings)
    kyc: KycSettings = Field(default_factory=KycSettings)
    # Seals TOTP seeds and DKIM/TLS private keys in events and read models (AES-GCM); unset stores them as given.
    secret: str | None = None
    # `allowUnsafe: false` looks new passwords up in this Pwned Passwords range API (k-anonymity).
    pwned_passwords_url: str = "https://api.pwnedpasswords.com"
    pwned_passwords_timeout: float = Field(default=3.0, gt=0)
    # Outbound mail: a fixed relay `smtp://host:port` (dev, tests, a smarthost) instead of MX lookups.
    smtp_relay: str | None = None
    deliver_poll_interval: float = Field(default=1.0, gt=0)
    # seconds a delivery worker holds the deliveries it claimed; those of a worker that died wait this long
    deliver_claim_lease: float = Field(default=600.0, gt=0)

    @field_validator("api_prefix", "idx_prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            value = "/" + value
        return value

    @field_validator("api_access_token")
    @classmethod
    def _blank_token_is_none(cls, value: str | None) -> str | None:
        return value or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get(CONFIG_ENV)
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql:", "postgresql+psycopg:", "postgres:"))

    @property
    def root_token_file(self) -> Path:
        return self.var_dir / "root-token"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings; a `--config` file is exported so that gunicorn workers read the same one."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise SystemExit(f"config file not found: {path}")
        os.environ[CONFIG_ENV] = str(path.resolve())
    return Settings(**overrides)
