"""Delivery figures, printed (not a test): submissions per second through `POST /users/:user/submit`,
deliveries per second by the queue worker (DKIM-signed, to a local aiosmtpd peer; one worker and four
racing workers), and messages per second taken in by the SMTP receiver into an INBOX.

    .venv/bin/python -m benchmarks.delivery [--store sqlite|postgres] [--messages 300] [--recipients 3]
"""

from __future__ import annotations

import argparse
import smtplib
import threading
import time
from email.message import EmailMessage

import falcon.testing

from benchmarks._stores import database
from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.logs import configure_logging
from chainmail.mail.queue import OutboundQueue
from chainmail.mail.smtp_in import ReceiverController
from chainmail.system import System
from tests.chain.anvil import free_port
from tests.integration.smtp_peers import smtp_peer

TOKEN = "benchmark-root-token"


def rate(count: int, started: float) -> str:
    elapsed = time.perf_counter() - started
    return f"{count / elapsed:8.1f}/s  ({count} in {elapsed:.2f} s)"


def submit_and_deliver(url: str, messages: int, recipients: int, workers: int) -> None:
    with smtp_peer() as peer:
        system = System(
            Settings(database_url=url, api_access_token=TOKEN, email_domain="example.com", smtp_relay=peer.url)
        )
        try:
            client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": TOKEN})
            client.simulate_post("/api/dkim", json={"domain": "example.com", "selector": "bench"})
            client.simulate_post("/api/settings/const:max:recipients", json={"value": 10**9})
            user = client.simulate_post("/api/users", json={"username": f"bench{workers}", "password": "secretvalue"})
            user_id = user.json["id"]
            to = [{"address": f"r{i}@remote.test"} for i in range(recipients)]
            started = time.perf_counter()
            for n in range(messages):
                answer = client.simulate_post(
                    f"/api/users/{user_id}/submit", json={"to": to, "subject": f"m{n}", "text": "hello " * 50}
                )
                assert answer.status_code == 200, answer.text
            print(f"  submit ({recipients} recipients each):       {rate(messages, started)}")

            queues = [OutboundQueue(system, worker=f"bench-{n}") for n in range(workers)]
            done: list[int] = []

            def work(queue: OutboundQueue) -> None:
                while attempted := queue.run_once(limit=200):
                    done.append(attempted)

            started = time.perf_counter()
            threads = [threading.Thread(target=work, args=(q,)) for q in queues]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(peer.received) == messages * recipients, len(peer.received)
            print(f"  deliveries, {workers} worker(s), DKIM-signed:   {rate(sum(done), started)}")
        finally:
            system.close()


def receive(url: str, messages: int) -> None:
    system = System(Settings(database_url=url, api_access_token=TOKEN, email_domain="example.com"))
    port = free_port()
    controller = ReceiverController(system, "127.0.0.1", port)
    controller.start()
    try:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": TOKEN})
        client.simulate_post("/api/users", json={"username": "inbound", "password": "secretvalue"})
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "x@remote.test", "inbound@example.com", "hello"
        message.set_content("hello " * 50)
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(messages):
                smtp.send_message(message)
        print(f"  SMTP receiver into INBOX (one connection): {rate(messages, started)}")
    finally:
        controller.stop()
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=("sqlite", "postgres"), action="append")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--recipients", type=int, default=3)
    args = parser.parse_args()
    configure_logging("warning")
    for store in args.store or ["sqlite", "postgres"]:
        print(f"store: {store}")
        for workers in (1, 4):
            with database(store) as url:
                submit_and_deliver(url, args.messages, args.recipients, workers)
        with database(store) as url:
            receive(url, args.messages)


if __name__ == "__main__":
    main()
