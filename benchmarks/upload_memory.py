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

import httpx

from benchmarks._stores import database

TOKEN = "upload-memory-benchmark-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _worker_pids(arbiter: int) -> list[int]:
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
    return [int(pid) for pid in children]


def _message(size: int, number: int) -> bytes:
    head = f"From: a@example.org\r\nTo: b@example.com\r\nSubject: big {number}\r\n\r\n".encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * (size // len(line))


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
            before = _rss_mb(worker)
            print(f"{args.store}: one worker, uploads of {args.mb} MiB; worker RSS before: {before:.0f} MiB")
            peak = before
            for number in range(args.count):
                raw = _message(size, number)
                stored = client.post(
                    f"/users/{user}/mailboxes/{inbox}/messages",
                    content=raw,
                    headers={"Content-Type": "message/rfc822"},
                )
                assert stored.status_code == 200, stored.text
                message = stored.json()["message"]["id"]
                back = client.get(f"/users/{user}/mailboxes/{inbox}/messages/{message}/message.eml")
                assert back.content == raw, "the message did not read back byte-identical"
                after_message = _rss_mb(worker)
                content = os.urandom(size)
                sent = client.post(
                    f"/users/{user}/storage",
                    json={
                        "filename": f"f{number}.bin",
                        "encoding": "base64",
                        "content": base64.b64encode(content).decode(),
                    },
                )
                assert sent.status_code == 200, sent.text
                assert client.get(f"/users/{user}/storage/{sent.json()['id']}").content == content
                after_file = _rss_mb(worker)
                peak = max(peak, after_message, after_file)
                print(
                    f"  upload {number + 1}: after the message {after_message:.0f} MiB, the file {after_file:.0f} MiB"
                )
            time.sleep(3)
            after = _rss_mb(worker)
            print(
                f"  worker RSS after: {after:.0f} MiB (peak seen {peak:.0f} MiB, {after - before:+.0f} MiB from before)"
            )
        finally:
            client.close()
            serve.terminate()
            serve.wait(timeout=30)


if __name__ == "__main__":
    main()
