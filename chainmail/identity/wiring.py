"""Attaches the identity context's adapters (directory, entitlements, rate limits) once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainmail.domain.identity.application import Identity
from chainmail.identity.directory import ReadModelDirectory
from chainmail.identity.names import CachedResolver, NameResolver, NoResolver
from chainmail.identity.ratelimit import RateLimiter
from chainmail.identity.revenuecat import RevenueCat
from chainmail.identity.settings import IdentitySettings, identity_settings


@dataclass
class Adapters:
    settings: IdentitySettings
    directory: ReadModelDirectory
    entitlements: RevenueCat
    limiter: RateLimiter


def name_resolver(ids: IdentitySettings) -> NameResolver:
    if ids.ens_rpc_url:
        from chainmail.identity.ens import EnsResolver

        return EnsResolver(ids.ens_rpc_url)
    return NoResolver()


def wire(system: Any, identity: Identity) -> Adapters:
    adapters: Adapters | None = getattr(identity, "adapters", None)
    if adapters is not None:
        return adapters
    ids = identity_settings(system.settings)
    adapters = Adapters(
        settings=ids,
        directory=ReadModelDirectory(system.engine, CachedResolver(name_resolver(ids), ids.cache_seconds)),
        entitlements=RevenueCat(
            ids.revenuecat_base_url,
            ids.revenuecat_api_key,
            sandbox_key=ids.revenuecat_api_key_sandbox,
            entitlement_id=ids.revenuecat_entitlement,
            timeout=ids.revenuecat_timeout,
            cache_seconds=ids.cache_seconds,
        ),
        limiter=RateLimiter(ids.rate_limit_per_minute, system.engine),
    )
    identity.adapters = adapters  # type: ignore[attr-defined]
    identity.directory = adapters.directory
    return adapters
