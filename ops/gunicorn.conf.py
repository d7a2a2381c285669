"""gunicorn settings for `chainmail serve`: bind and worker count come from chainmail's settings."""

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
