"""The WSGI entry point gunicorn loads in each worker: `chainmail.http.wsgi:application`."""

from __future__ import annotations

from chainmail.config import load_settings
from chainmail.http.app import create_app
from chainmail.http.bodies import restore_recursion_limit
from chainmail.logs import configure_logging
from chainmail.system import System

settings = load_settings()
configure_logging(settings.log_level)
application = create_app(System(settings))
restore_recursion_limit()  # after every import: py_ecc raised it, and worker threads have small C stacks
