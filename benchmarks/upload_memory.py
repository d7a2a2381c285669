"""Worker memory around large uploads: `chainmail serve` (1 worker) on a throwaway database, its resident
memory before, after each of a series of large uploads (raw RFC 822 messages and base64 storage files in
JSON), and a few seconds after the last; each upload is read back and compared byte for byte.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.upload_memory [--store sqlite|postgres] [--mb 30] [--count 4]
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._stores import database

TOKEN = "upload-memory-benchmark-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory in MiB: all of it, or `RssAnon` (the heap) or `RssFile` (mapped files, reclaimable)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _split(pid: int) -> str:
    return f"heap {_rss_mb(pid, 'RssAnon'):.0f} MiB, files {_rss_mb(pid, 'RssFile'):.0f} MiB"


def _worker_pids(arbiter: int) -> list[int]:
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
    return [int(pid) for pid in children]


def _message(size: int, number: int) -> bytes:
    head = f"From: a@example.org\r\nTo: b@example.com\r\nSubject: big {number}\r\n\r\n".encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * (size // len(line))


def _upload(client: httpx.Client, user: str, inbox: str, size: int, number: int, each: Any = None) -> Any:
    """A raw RFC 822 message and a base64 storage file of `size` bytes, each read back byte for byte; with
    `each`, what it answers after each of the two (else the size)."""
    raw = _message(size, number)
    stored = client.post(
        f"/users/{user}/mailboxes/{inbox}/messages", content=raw, headers={"Content-Type": "message/rfc822"}
    )
    assert stored.status_code == 200, stored.text
    message = stored.json()["message"]["id"]
    back = client.get(f"/users/{user}/mailboxes/{inbox}/messages/{message}/message.eml")
    assert back.content == raw, "the message did not read back byte-identical"
    after_message = each() if each else None
    content = os.urandom(size)
    sent = client.post(
        f"/users/{user}/storage",
        json={"filename": f"f{number}.bin", "encoding": "base64", "content": base64.b64encode(content).decode()},
    )
    assert sent.status_code == 200, sent.text
    assert client.get(f"/users/{user}/storage/{sent.json()['id']}").content == content
    return (after_message, each()) if each else size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--mb", type=int, default=30, help="size of each upload")
    parser.add_argument("--count", type=int, default=4, help="uploads of each kind")
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    with database(args.store, migrated=False) as url, tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        env = dict(os.environ, CHAINMAIL_DATABASE_URL=url, CHAINMAIL_API_ACCESS_TOKEN=TOKEN, CHAINMAIL_WORKERS="1")
        env.update(CHAINMAIL_PORT=str(port), CHAINMAIL_VAR_DIR=folder, CHAINMAIL_LOG_LEVEL="warning")
        log = Path(folder) / "serve.log"
        with log.open("wb") as out:
            serve = subprocess.Popen(
                [sys.executable, "-m", "chainmail.cli", "serve", "--migrate"], env=env, stdout=out, stderr=out
            )
        base = f"http://127.0.0.1:{port}/api"
        client = httpx.Client(base_url=base, headers={"X-Access-Token": TOKEN}, timeout=300)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise SystemExit(f"chainmail serve did not start:\n{log.read_text()}")
                time.sleep(0.3)
            user = client.post("/users", json={"username": "big", "password": "secretvalue"}).json()["id"]
            inbox = next(m["id"] for m in client.get(f"/users/{user}/mailboxes").json()["results"])
            client.get(f"/users/{user}")  # warm every code path once before the first figure
            (worker,) = _worker_pids(serve.pid)
            started = _rss_mb(worker)
            # small uploads of each kind, read back: the code paths (imports, caches) a worker has once it
            # has served ordinary mail, so the figures below are what the large bodies leave behind
            small = _upload(client, user, inbox, 64 * 1024, 0)
            before = _rss_mb(worker)
            print(
                f"{args.store}: one worker, uploads of {args.mb} MiB; worker RSS at start {started:.0f} MiB, "
                f"after uploads of {small // 1024} KiB: {before:.0f} MiB ({_split(worker)})"
            )
            peak = before
            for number in range(args.count):
                after_message, after_file = _upload(client, user, inbox, size, number, each=lambda: _rss_mb(worker))
                peak = max(peak, after_message, after_file)
                print(
                    f"  upload {number + 1}: after the message {after_message:.0f} MiB, the file {after_file:.0f} MiB"
                )

            time.sleep(3)
            after = _rss_mb(worker)
            print(
                f"  worker RSS after: {after:.0f} MiB (peak seen {peak:.0f} MiB, {after - before:+.0f} MiB from "
                f"after the small uploads, {after - started:+.0f} MiB from the start; {_split(worker)})"
            )
        finally:
            client.close()
            serve.terminate()
            serve.wait(timeout=30)


if __name__ == "__main__":
    main()
