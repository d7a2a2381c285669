"""Real processes: `chainmail serve` under gunicorn and `chainmail project`, on a fresh database of each store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT_TOKEN = "e2e-root-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chainmail_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINMAIL_")}
    env.update(
        CHAINMAIL_DATABASE_URL=database_url,
        CHAINMAIL_VAR_DIR=str(var_dir),
        CHAINMAIL_API_ACCESS_TOKEN=ROOT_TOKEN,
        CHAINMAIL_EMAIL_DOMAIN="example.com",
        CHAINMAIL_LOG_LEVEL="warning",
        **extra,
    )
    return env


def chainmail(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "chainmail.cli", *args], env=env, stdout=handle, stderr=subprocess.STDOUT
    )


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    started: list[Server] = []

    def start(database_url: str, workers: int = 4, **settings: str | None) -> Server:
        """`chainmail serve` on a free port; `settings` add CHAINMAIL_* variables (None removes one)."""
        port = free_port()
        env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_PORT=str(port), CHAINMAIL_WORKERS=str(workers))
        for key, value in settings.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        health = f"{env.get('CHAINMAIL_API_PREFIX', '/api')}/health"
        token = {"X-Access-Token": env["CHAINMAIL_API_ACCESS_TOKEN"]} if "CHAINMAIL_API_ACCESS_TOKEN" in env else {}
        log = tmp_path / f"serve-{port}.log"
        process = chainmail("serve", env=env, log=log)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        started.append(server)
        deadline = time.monotonic() + 180  # a loaded 2-core machine takes its time to import everything
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"chainmail serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{server.url}{health}", headers=token).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"chainmail serve did not answer: {log.read_text()}")

    yield start
    for server in started:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
