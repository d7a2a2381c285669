"""ENS/SNS name resolution behind one interface, with a cache; real resolvers plug in here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chainmail.domain.identity.directory import OwnedName


class NameResolver(Protocol):
    def owner_of(self, name: str) -> str | None: ...

    def names_of(self, wallet: str) -> list[OwnedName]: ...


class NoResolver:
    """No ENS/SNS source configured: no name resolves."""

    def owner_of(self, name: str) -> str | None:
        return None

    def names_of(self, wallet: str) -> list[OwnedName]:
        return []


class StaticResolver:
    """Names from a fixed table (name -> owner); for configuration and tests."""

    def __init__(self, owners: Mapping[str, str]) -> None:
        self.owners = {name.lower(): owner for name, owner in owners.items()}
        self.calls = 0

    def owner_of(self, name: str) -> str | None:
        self.calls += 1
        return self.owners.get(name.lower())

    def names_of(self, wallet: str) -> list[OwnedName]:
        self.calls += 1
        return [
            OwnedName(name, "ens" if name.endswith((".eth", ".box")) else "sns")
            for name, owner in sorted(self.owners.items())
            if owner == wallet
        ]


class CachedResolver:
    """Remembers answers for `ttl` seconds (names change hands rarely; resolvers are slow and metered)."""

    def __init__(self, inner: NameResolver, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner, self.ttl, self.clock = inner, ttl, clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str], compute: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def owner_of(self, name: str) -> str | None:
        return self._cached(("owner", name.lower()), lambda: self.inner.owner_of(name.lower()))

    def names_of(self, wallet: str) -> list[OwnedName]:
        return list(self._cached(("names", wallet), lambda: self.inner.names_of(wallet)))
