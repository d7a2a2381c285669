"""What gunicorn loads in each worker: `served` (ASGI, for the asyncio worker `chainmail serve` runs) wraps the
WSGI `application`, which any WSGI server can also run."""

from __future__ import annotations

# imported at start (0.3 s), not at a worker's first wallet signature (its py_ecc raises the recursion limit,
# put back below)
import eth_account  # noqa: F401

from chainmail.config import load_settings
from chainmail.heap import freeze_startup_heap
from chainmail.http.app import MAX_BODY_BYTES, create_app
from chainmail.http.bodies import restore_recursion_limit
from chainmail.http.buffered import APP_THREADS, BufferedWsgi
from chainmail.logs import configure_logging
from chainmail.system import System

settings = load_settings()
configure_logging(settings.log_level)
application = create_app(System(settings))
restore_recursion_limit()  # after every import: py_ecc raised it, and worker threads have small C stacks

served = BufferedWsgi(application, threads=APP_THREADS, max_body_bytes=MAX_BODY_BYTES)
freeze_startup_heap()
