"""The anchor of benchmarks/write_path.py: a bare Falcon app that does the least a database-backed request can.

Served by gunicorn with chainmail's own settings (ops/gunicorn.conf.py), one pool of connections per worker:

- `POST /insert`: one `INSERT ... RETURNING` of the request body and a commit;
- `GET /json`: a small JSON document, no database;
- `GET /row/{id}`: one row read by primary key.

`BARE_DATABASE_URL` is a `postgresql://` URL (a psycopg pool of `BARE_POOL_SIZE` connections per worker, as
many as it has threads) or a `sqlite:///path` file (a connection per thread, WAL). `prepare(url)` creates
the table and a row to read; call it once before the workers start.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import falcon

TABLE = "bare_rows"


def _sqlite_path(url: str) -> str | None:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None


def _sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def prepare(url: str) -> None:
    """Create the table (empty but for row 1) in the database `url` points to."""
    path = _sqlite_path(url)
    if path is not None:
        with _sqlite(path) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            conn.execute(f"INSERT INTO {TABLE} (body) VALUES ('the row the reads fetch')")
        return
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)")
        conn.execute(f"INSERT INTO {TABLE} (body) VALUES ('the row the reads fetch')")


Runner = Callable[[str, tuple[Any, ...]], Any]


def _runner(url: str) -> Runner:
    """Runs one statement in a transaction of its own (a write one for INSERT) and returns its first row."""
    path = _sqlite_path(url)
    if path is not None:
        local = threading.local()

        def run_sqlite(sql: str, args: tuple[Any, ...]) -> Any:
            if not hasattr(local, "conn"):
                local.conn = _sqlite(path)
            conn = local.conn
            conn.execute("BEGIN IMMEDIATE" if sql.startswith("INSERT") else "BEGIN")  # take the write lock at once
            row = conn.execute(sql.replace("%s", "?"), args).fetchone()
            conn.execute("COMMIT")
            return row

        return run_sqlite
    from psycopg_pool import ConnectionPool

    size = int(os.environ.get("BARE_POOL_SIZE", "4"))
    pool = ConnectionPool(url, min_size=size, max_size=size, open=True)

    def run_postgres(sql: str, args: tuple[Any, ...]) -> Any:
        with pool.connection() as conn:  # commits on the way out
            return conn.execute(sql, args).fetchone()

    return run_postgres


class Insert:
    def __init__(self, run: Runner) -> None:
        self.run = run

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.bounded_stream.read().decode("utf-8", "replace")
        (row_id,) = self.run(f"INSERT INTO {TABLE} (body) VALUES (%s) RETURNING id", (body,))
        resp.media = {"success": True, "id": row_id}


class SmallJson:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"success": True, "id": "5f0c1a2b3c4d5e6f7a8b9c0d", "name": "bare", "tags": ["a", "b"]}


class Row:
    def __init__(self, run: Runner) -> None:
        self.run = run

    def on_get(self, req: falcon.Request, resp: falcon.Response, row_id: int) -> None:
        row = self.run(f"SELECT id, body FROM {TABLE} WHERE id = %s", (row_id,))
        if row is None:
            raise falcon.HTTPNotFound()
        resp.media = {"success": True, "id": row[0], "body": row[1]}


def create_app(url: str) -> falcon.App:
    run = _runner(url)
    app = falcon.App()
    app.add_route("/insert", Insert(run))
    app.add_route("/json", SmallJson())
    app.add_route("/row/{row_id:int}", Row(run))
    return app


def serve_like_chainmail(app: falcon.App) -> Any:
    """The app as `chainmail serve` hands its own to gunicorn's asyncio worker (`chainmail.http.wsgi.served`)."""
    from chainmail.http.app import MAX_BODY_BYTES
    from chainmail.http.buffered import APP_THREADS, BufferedWsgi

    return BufferedWsgi(app, threads=APP_THREADS, max_body_bytes=MAX_BODY_BYTES)


# `application` for a WSGI worker class (gthread), `served` for the asyncio one ("asgi"), as ops/gunicorn.conf.py says
application = create_app(os.environ["BARE_DATABASE_URL"]) if "BARE_DATABASE_URL" in os.environ else None
served = serve_like_chainmail(application) if application is not None and os.environ.get("BARE_ASGI") else None
