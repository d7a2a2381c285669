"""gunicorn settings for `chainmail serve`: bind and worker count come from chainmail's settings."""

import os
import shutil

from chainmail.config import load_settings
from chainmail.http.buffered import APP_THREADS

_settings = load_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
# An asyncio worker holds thousands of idle or slow connections for the price of a socket each: it reads
# every request whole, then runs the WSGI app on a thread pool (chainmail.http.buffered, APP_THREADS). It is
# gunicorn's, on asyncio's own loop, accepting one connection at a time so that workers share a burst of them
# (chainmail.http.worker).
worker_class = "chainmail.http.worker.Worker"
asgi_loop = "asyncio"
threads = APP_THREADS  # not gunicorn's (it warns that the asyncio worker ignores it): the app's pool, for reference
worker_connections = 4096  # per worker; the process allows 20,000 open files
timeout = 60  # also bounds how long a body may take between two chunks
graceful_timeout = 20
keepalive = 5  # seconds an idle connection is kept between requests
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
logger_class = "chainmail.http.access_log.AccessLogger"  # gunicorn's access lines, written for less
errorlog = "-"
loglevel = _settings.log_level
# Each worker builds its own database pools after the fork.
preload_app = False

# Prometheus: every worker writes its metrics to files in one directory, which /metrics sums. `chainmail up`
# sets the directory for all its children; alone, `chainmail serve` gets its own, emptied at start. Set before
# any worker imports prometheus_client (the variable decides how it keeps values).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = _settings.var_dir / "metrics" / f"serve-{_settings.port}"
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir.resolve())


def child_exit(server: object, worker: object) -> None:
    from chainmail.metrics import mark_process_dead

    mark_process_dead(worker.pid)  # type: ignore[attr-defined]
