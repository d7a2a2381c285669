"""`GET /health`: does the database answer, and with every bounded context's event store?"""

from __future__ import annotations

import falcon
import structlog
from sqlalchemy.exc import SQLAlchemyError

from chainmail.http.router import Router
from chainmail.store.events import max_notification_id
from chainmail.system import System

log = structlog.get_logger(__name__)


class HealthResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            with self.system.engine.connect() as conn:
                for name in self.system.apps:
                    max_notification_id(conn, name)  # the event store answers, not just the server
        except SQLAlchemyError as error:
            log.warning("health check failed", error=str(error))
            resp.status = 500
            resp.media = {"success": False, "message": "DB is down"}
            return
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/health", HealthResource(system))
