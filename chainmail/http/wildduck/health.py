"""`GET /health`: can this process read and write its database?"""

from __future__ import annotations

import falcon
import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from chainmail.http.router import Router
from chainmail.system import System

log = structlog.get_logger(__name__)


class HealthResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            with self.system.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            self.system.mail.recorder.max_notification_id()
        except (SQLAlchemyError, Exception) as error:  # any failure to reach the store means "down"
            log.warning("health check failed", error=str(error))
            resp.status = 500
            resp.media = {"success": False, "message": "DB is down"}
            return
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/health", HealthResource(system))
