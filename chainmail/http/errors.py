"""One error type per API, turned into its wire shape in one place.

- WildDuck handlers: `{"error", "code", ...details}` with WildDuck's status.
- restify's own errors (bad token, unknown route, wrong method, unparsable body): `{"code", "message"}`.
- Indexer routes: `{"success": false, "error", "code", "timestamp"}`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import eventsourcing.persistence
import falcon
import sqlalchemy.exc
import structlog

from chainmail.domain.errors import DomainError
from chainmail.domain.mail.sealing import SealError

log = structlog.get_logger(__name__)

# Lock and pool time-outs: the write did not happen, and saying so with 503 lets clients retry.
BUSY_ERRORS: tuple[type[Exception], ...] = (
    eventsourcing.persistence.ConnectionUnavailableError,
    eventsourcing.persistence.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.TimeoutError,
)

DOMAIN_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "exists": 400, "conflict": 409}
INDEXER_DOMAIN_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "exists": 409, "conflict": 409}


class WildDuckError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class RestifyError(Exception):
    """Errors WildDuck's framework (restify) answers itself, in its own `{code, message}` shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class IndexerError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid_token() -> RestifyError:
    return RestifyError(403, "InvalidToken", "Invalid accessToken value")


def missing_privileges() -> WildDuckError:
    return WildDuckError(403, "MissingPrivileges", "Not enough privileges")


class ErrorShaper:
    """Falcon error handlers; which shape an error takes depends on the API the path belongs to."""

    def __init__(self, idx_prefix: str) -> None:
        self.idx_prefix = idx_prefix

    def install(self, app: falcon.App) -> None:
        # Falcon picks the most specific registered class, so the order here does not matter.
        app.add_error_handler(Exception, self.unexpected)
        app.add_error_handler(falcon.HTTPError, self.http_error)
        app.add_error_handler(WildDuckError, self.wildduck)
        app.add_error_handler(RestifyError, self.restify)
        app.add_error_handler(IndexerError, self.indexer)
        app.add_error_handler(DomainError, self.domain)
        app.add_error_handler(SealError, self.sealed)
        for busy in BUSY_ERRORS:
            app.add_error_handler(busy, self.busy)

    def is_indexer(self, req: falcon.Request) -> bool:
        prefix = self.idx_prefix
        return bool(prefix) and (req.path == prefix or req.path.startswith(prefix + "/"))

    def _send(self, resp: falcon.Response, status: int, body: dict[str, Any]) -> None:
        resp.status = status
        # whatever the responder had begun to answer (a raw message, a file) gives way to the error in JSON
        resp.content_type = falcon.MEDIA_JSON
        resp.data = resp.text = resp.stream = None
        resp.media = body
        resp.complete = True

    def _indexer_body(self, code: str, message: str) -> dict[str, Any]:
        return {
            "success": False,
            "error": message,
            "code": code,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def wildduck(self, req: falcon.Request, resp: falcon.Response, ex: WildDuckError, params: Any) -> None:
        if self.is_indexer(req):
            self._send(resp, ex.status, self._indexer_body(ex.code, ex.message))
            return
        self._send(resp, ex.status, {"error": ex.message, "code": ex.code, **ex.details})

    def restify(self, req: falcon.Request, resp: falcon.Response, ex: RestifyError, params: Any) -> None:
        if self.is_indexer(req):
            self._send(resp, ex.status, self._indexer_body(ex.code, ex.message))
            return
        self._send(resp, ex.status, {"code": ex.code, "message": ex.message})

    def indexer(self, req: falcon.Request, resp: falcon.Response, ex: IndexerError, params: Any) -> None:
        self._send(resp, ex.status, self._indexer_body(ex.code, ex.message))

    def domain(self, req: falcon.Request, resp: falcon.Response, ex: DomainError, params: Any) -> None:
        if self.is_indexer(req):
            self._send(resp, INDEXER_DOMAIN_STATUS[ex.kind], self._indexer_body(ex.code, ex.message))
            return
        self._send(resp, DOMAIN_STATUS[ex.kind], {"error": ex.message, "code": ex.code, **ex.details})

    def http_error(self, req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: Any) -> None:
        status = ex.status_code
        if isinstance(ex, falcon.HTTPRouteNotFound) or status == 404:
            code, message = "ResourceNotFound", f"{req.path} does not exist"
        elif isinstance(ex, falcon.HTTPMethodNotAllowed) or status == 405:
            code, message = "MethodNotAllowed", f"{req.method} is not allowed"
            if ex.headers:
                resp.set_headers(ex.headers)
        elif status == 413:
            code, message = "PayloadTooLarge", "Request body is too large"
        elif status == 415:
            code, message = "UnsupportedMediaType", ex.description or "Unsupported media type"
        else:
            code, message = ex.title.replace(" ", "") if ex.title else "HttpError", ex.description or ex.title
        if self.is_indexer(req):
            self._send(resp, status, self._indexer_body(code, message))
            return
        self._send(resp, status, {"code": code, "message": message})

    def busy(self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
        """The database could not take the request in time: the client should retry, nothing was lost."""
        log.warning("database busy", path=req.path, method=req.method, error=str(ex))
        resp.set_header("Retry-After", "1")
        if self.is_indexer(req):
            self._send(resp, 503, self._indexer_body("SERVICE_UNAVAILABLE", "Database is busy, try again"))
            return
        self._send(resp, 503, {"error": "Database is busy, try again", "code": "ServiceUnavailable"})

    def sealed(self, req: falcon.Request, resp: falcon.Response, ex: SealError, params: Any) -> None:
        """A secret sealed under another key (or with none configured): WildDuck's InternalConfigError."""
        log.error("a sealed secret cannot be opened with the configured secret", path=req.path)
        if self.is_indexer(req):
            self._send(resp, 500, self._indexer_body("INTERNAL_CONFIG_ERROR", "Can not use decrypted secret"))
            return
        self._send(resp, 500, {"error": "Can not use decrypted secret", "code": "InternalConfigError"})

    def unexpected(self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
        log.exception("unhandled error", path=req.path, method=req.method)
        if self.is_indexer(req):
            self._send(resp, 500, self._indexer_body("INTERNAL_ERROR", "Internal server error"))
            return
        self._send(resp, 500, {"error": "Internal server error", "code": "InternalError"})
