"""Event store configuration: one database URL gives every bounded context its eventsourcing recorder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from chainmail.store.database import sqlite_path


def event_store_env(database_url: str, *, create_tables: bool) -> dict[str, str]:
    """eventsourcing's environment for the database at `database_url` (SQLite file or PostgreSQL)."""
    path = sqlite_path(database_url)
    common = {"CREATE_TABLE": "y" if create_tables else "n"}
    if path is not None:
        if str(path) in ("", ":memory:"):
            raise ValueError("the event store needs a SQLite file, not an in-memory database")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            **common,
            "PERSISTENCE_MODULE": "chainmail.store.sqlite_events",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    url = make_url(database_url)
    if not url.drivername.startswith("postgres"):
        raise ValueError(f"unsupported database URL: {url.drivername}")
    env = {
        **common,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.database or "postgres",
        "POSTGRES_HOST": url.host or str(url.query.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_LOCK_TIMEOUT": "30",
    }
    return env
