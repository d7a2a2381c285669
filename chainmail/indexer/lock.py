"""One writer per chain: a PostgreSQL advisory lock held on its own connection, or an exclusive lock on
a file beside the SQLite database. Both go away with the process, so a waiting worker takes over."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from chainmail.store.database import sqlite_path

LOCK_CLASS = 0x636D  # "cm": chainmail's advisory-lock namespace; the chain id is the second key


class ChainLock:
    def __init__(self, database_url: str, chain_id: int) -> None:
        self.database_url, self.chain_id = database_url, chain_id
        self._held: Any = None

    def try_acquire(self) -> bool:
        if self._held is not None:
            return True
        path = sqlite_path(self.database_url)
        if path is not None:
            lock_file = Path(f"{path}.chain-{self.chain_id}.lock")
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._held = fd
            return True
        url = make_url(self.database_url).set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=10)
        got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.chain_id & 0x7FFFFFFF)).fetchone()
        if not got or not got[0]:
            conn.close()
            return False
        self._held = conn
        return True

    def acquire(self, stop: Callable[[], bool], poll: float = 0.5) -> bool:
        """Wait until this process is the chain's writer (True) or `stop()` (False)."""
        while not stop():
            if self.try_acquire():
                return True
            time.sleep(poll)
        return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        if isinstance(held, int):
            fcntl.flock(held, fcntl.LOCK_UN)
            os.close(held)
        else:
            # unlock before closing: the server drops a closed session's locks only a moment later
            with contextlib.suppress(psycopg.Error):  # a lost connection took its locks with it
                held.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, self.chain_id & 0x7FFFFFFF))
            held.close()

    def __enter__(self) -> ChainLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
