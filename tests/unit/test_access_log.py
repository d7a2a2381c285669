"""chainmail's gunicorn logger writes exactly the access lines gunicorn's own logger writes."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from chainmail.http.access_log import AccessLogger

ENVIRONS = [
    {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/users/abc?x=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    },
    {
        "REMOTE_ADDR": "10.0.0.2",
        "REQUEST_METHOD": "POST",
        "RAW_URI": '/api/a"b',
        "SERVER_PROTOCOL": "HTTP/1.0",
        "HTTP_REFERER": 'https://example.com/"quoted"',
        "HTTP_USER_AGENT": 'curl/8 "x" é',
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"ann:secret").decode(),
    },
    {"REQUEST_METHOD": "PUT", "RAW_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_AUTHORIZATION": "Basic !!"},
]


def _logger(cls: type[glogging.Logger], path: Path, access_log_format: str | None) -> glogging.Logger:
    cfg = Config()
    cfg.set("accesslog", str(path))  # a file, as an operator may set it (the same handler class as stdout's)
    if access_log_format is not None:
        cfg.set("access_log_format", access_log_format)
    access = logging.getLogger("gunicorn.access")
    for handler in list(access.handlers):  # pytest's capture handlers, left on the logger by an earlier test
        access.removeHandler(handler)
    logger = cls(cfg)
    logger.now = lambda: "[05/Dec/2026:20:00:00 +0000]"  # type: ignore[method-assign]
    return logger


@pytest.mark.parametrize("access_log_format", [None, '%(h)s %(s)s "%(a)s" %({x-request-id}o)s'])
@pytest.mark.parametrize("status", [200, "404 Not Found"])
@pytest.mark.parametrize("sent", [None, 0, 1234])
def test_the_access_lines_are_gunicorns_own(
    tmp_path: Path, access_log_format: str | None, status: object, sent: object
) -> None:
    written = []
    for cls in (glogging.Logger, AccessLogger):  # one after the other: both use the `gunicorn.access` logger
        path = tmp_path / f"{cls.__name__}.log"
        logger = _logger(cls, path, access_log_format)
        for environ in ENVIRONS:
            resp = SimpleNamespace(status=status, sent=sent, headers=[("X-Request-Id", "r1")])
            req = SimpleNamespace(headers=[("HOST", "example.com")])
            logger.access(resp, req, dict(environ), timedelta(milliseconds=3))
        if cls is AccessLogger:  # its own line for gunicorn's default format, gunicorn's code for any other
            assert logger._direct is (access_log_format is None)
        written.append(path.read_text())
    theirs, mine = written
    assert mine == theirs
    assert mine.count("\n") == len(ENVIRONS)
