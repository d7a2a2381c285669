"""The composition root: settings in, the event store applications, read-model engine and projections out."""

from __future__ import annotations

from functools import cached_property
from typing import TypeVar

from sqlalchemy import Engine

from chainmail.config import Settings
from chainmail.domain.application import Clock, ContextApplication, IdSource, system_clock
from chainmail.domain.chain.application import Chain
from chainmail.domain.identity.application import Identity
from chainmail.domain.mail.application import Mail
from chainmail.domain.rewards.application import Rewards
from chainmail.projections.registry import PROJECTIONS
from chainmail.projections.runner import ProjectionRunner
from chainmail.store.database import make_engine, make_query_engine
from chainmail.store.events import event_store_env
from chainmail.store.postgres_events import lender
from chainmail.store.rate_limits import RollingWindowLimiter

C = TypeVar("C", bound=ContextApplication)

# Every bounded context with an event store of its own.
CONTEXTS: tuple[type[ContextApplication], ...] = (Mail, Chain, Identity, Rewards)
QUERY_TIMEOUT_MS = 10_000  # per statement of a public query (PostgreSQL)


class System:
    """Everything one chainmail process talks to, built once per process (per gunicorn worker)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        ids: IdSource | None = None,
        create_tables: bool = False,
    ) -> None:
        self.settings, self.clock = settings, clock
        self.engine = make_engine(settings.database_url)
        env = event_store_env(settings.database_url, create_tables=create_tables)
        ids = ids or IdSource()
        # Every save commits through the runner: its events and the inline read models in one transaction.
        self.apps: dict[str, ContextApplication] = {}
        self.projections = ProjectionRunner(
            self.engine, self.apps, PROJECTIONS, batch_size=settings.projection_batch_size
        )
        token = lender.set(self.engine)  # their recorders borrow the engine's connections (PostgreSQL)
        try:
            self.apps |= {
                context.name: context.from_settings(settings, env=env, clock=clock, ids=ids, committer=self.projections)
                for context in CONTEXTS
            }
        finally:
            lender.reset(token)
        self.mail = self.context(Mail)
        self.mail.auth_limits = RollingWindowLimiter(self.engine)  # failed sign-ins, shared by every worker

    def context(self, context: type[C]) -> C:
        """The running application of one bounded context."""
        app = self.apps[context.name]
        assert isinstance(app, context)
        return app

    @cached_property
    def query_engine(self) -> Engine:
        """The engine public read-only queries run on (the indexer's GraphQL API): each statement limited to
        QUERY_TIMEOUT_MS on PostgreSQL; the read-model engine itself on SQLite."""
        return make_query_engine(self.settings.database_url, QUERY_TIMEOUT_MS) or self.engine

    def close(self) -> None:
        for app in self.apps.values():
            app.close()
        if "query_engine" in self.__dict__ and self.query_engine is not self.engine:
            self.query_engine.dispose()
        self.engine.dispose()
