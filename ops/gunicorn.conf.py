"""gunicorn settings for `chainmail serve`: bind and worker count come from chainmail's settings."""

import os
import shutil

from chainmail.config import load_settings

_settings = load_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
# Threads let a worker hold long-lived responses (server-sent events) while serving others.
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = "-"
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
