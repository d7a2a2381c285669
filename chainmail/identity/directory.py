"""The identity context's WalletDirectory over this process's read models (3DNS names, delegations)
and an ENS/SNS resolver."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from chainmail.domain.identity.directory import OwnedName
from chainmail.identity.names import NameResolver, NoResolver

log = structlog.get_logger(__name__)


def _live(expiry: int | None) -> bool:
    """A 3DNS registration counts until its expiry (unix seconds); none recorded means no expiry."""
    return expiry is None or expiry > time.time()


class ReadModelDirectory:
    def __init__(self, engine: Engine, resolver: NameResolver | None = None) -> None:
        self.engine = engine
        self.resolver: NameResolver = resolver or NoResolver()

    def _read(self, query: Callable[[Any], Any], default: Any) -> Any:
        """Run a query on the chain read models; until they exist (or when they fail) answer `default`."""
        try:
            with self.engine.connect() as conn:
                return query(conn)
        except (ImportError, SQLAlchemyError) as error:
            log.debug("chain read model unavailable", error=str(error))
            return default

    def owner_of(self, name: str) -> str | None:
        name = name.lower()
        if name.endswith(".box"):

            def threedns_owner(conn: Any) -> str | None:
                from chainmail.projections.chain_names import threedns_names

                t = threedns_names
                row = conn.execute(select(t.c.owner, t.c.expiry).where(t.c.name == name)).first()
                return row.owner if row is not None and row.owner and _live(row.expiry) else None

            owner = self._read(threedns_owner, None)
            if owner:
                return owner
        return self.resolver.owner_of(name)

    def names_of(self, wallet: str) -> list[OwnedName]:
        def threedns(conn: Any) -> list[OwnedName]:
            from chainmail.projections.chain_names import names_owned_by

            rows = names_owned_by(conn, wallet)
            return [OwnedName(row["name"], "3dns") for row in rows if row.get("name") and _live(row.get("expiry"))]

        owned = self._read(threedns, []) if wallet.startswith("0x") else []
        seen = {n.name for n in owned}
        return owned + [n for n in self.resolver.names_of(wallet) if n.name not in seen]

    def delegate_of(self, wallet: str) -> str | None:
        def query(conn: Any) -> str | None:
            from chainmail.projections.delegations import delegated_to

            rows = delegated_to(conn, wallet)
            return rows[0]["delegate"] if rows else None

        return self._read(query, None)

    def delegators_of(self, wallet: str) -> list[str]:
        def query(conn: Any) -> list[str]:
            from chainmail.projections.delegations import delegators_of

            return list(dict.fromkeys(row["delegator"] for row in delegators_of(conn, wallet)))

        return self._read(query, [])
