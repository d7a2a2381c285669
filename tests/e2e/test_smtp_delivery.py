"""Mail over real sockets: the chainmail SMTP/LMTP receiver (aiosmtpd) delivering into mailboxes, forwards and
autoreplies leaving through the queue to a real SMTP peer, and one account mailing another end to end."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import dkim
import falcon.testing
import httpx
import pytest

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.mail.queue import OutboundQueue
from chainmail.mail.smtp_in import ReceiverController
from chainmail.system import System
from tests.chain.anvil import free_port
from tests.e2e.conftest import ROOT_TOKEN as SERVE_TOKEN
from tests.e2e.conftest import chainmail, chainmail_env
from tests.integration.mail_support import create_user, mailbox_ids
from tests.integration.smtp_peers import Peer, smtp_peer, wait_for
from tests.local_http import QuietHandler, serving

ROOT = "root-token-for-smtp-tests"


@pytest.fixture
def peer() -> Iterator[Peer]:
    with smtp_peer() as running:
        yield running


@pytest.fixture
def system(database_url: str, peer: Peer) -> Iterator[System]:
    running = System(
        Settings(database_url=database_url, api_access_token=ROOT, email_domain="example.com", smtp_relay=peer.url)
    )
    yield running
    running.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT})


@pytest.fixture
def receiver(system: System) -> Iterator[int]:
    port = free_port()
    controller = ReceiverController(system, "127.0.0.1", port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def http_sink() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A local HTTP server keeping every POST (path, headers, body): webhooks and HTTP forward targets."""
    posts: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            posts.append((self.path, dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

    with serving(Handler) as url:
        yield url, posts


def mail(sender: str, to: str, subject: str, body: str = "Hello", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{subject.replace(' ', '.')}@remote.test>"
    for key, value in headers.items():
        message[key.replace("_", "-")] = value
    message.set_content(body)
    return message


def send(port: int, message: EmailMessage, sender: str, recipients: list[str]) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.send_message(message, from_addr=sender, to_addrs=recipients)


def inbox(client: falcon.testing.TestClient, user: str, folder: str = "INBOX") -> list[dict]:
    mailbox = mailbox_ids(client, user)[folder]
    return client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages").json["results"]


def test_the_receiver_delivers_to_local_addresses_and_refuses_unknown_ones(
    client: falcon.testing.TestClient, system: System, receiver: int, peer: Peer
) -> None:
    user = create_user(client, "alice")
    wild = create_user(client, "catchall")
    added = client.simulate_post(f"/api/users/{wild}/addresses", json={"address": "*@wild.test", "allowWildcard": True})
    assert added.status_code == 200, added.text

    refused = send(receiver, mail("x@remote.test", "alice@example.com", "Hi Alice"), "x@remote.test",
                   ["Alice@Example.com", "ghost@example.com"])  # fmt: skip
    assert list(refused) == ["ghost@example.com"] and refused["ghost@example.com"][0] == 550
    send(receiver, mail("x@remote.test", "anyone@wild.test", "Stray"), "x@remote.test", ["anyone@wild.test"])
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(receiver, mail("x@remote.test", "ghost@example.com", "Nobody"), "x@remote.test", ["ghost@example.com"])

    full = create_user(client, "full", quota=1)
    partly = send(receiver, mail("x@remote.test", "alice@example.com", "Split"), "x@remote.test",
                  ["alice@example.com", "full@example.com"])  # fmt: skip
    assert partly == {}  # SMTP has one answer: taken; the full mailbox is reported back in a bounce
    assert OutboundQueue(system).run_once() == 1
    (report,) = peer.received
    assert report.rcpt_tos == ["x@remote.test"] and report.mail_from == "<>"
    assert b"full@example.com" in report.data and b"552 5.2.2" in report.data
    assert inbox(client, full) == []

    looping = mail("x@remote.test", "alice@example.com", "Looping")
    for hop in range(30):
        looping["Received"] = f"from hop{hop}.remote.test by hop{hop + 1}.remote.test"
    with pytest.raises(smtplib.SMTPDataError) as refused_loop:
        send(receiver, looping, "x@remote.test", ["alice@example.com"])
    assert refused_loop.value.smtp_code == 554

    received, split = sorted(inbox(client, user), key=lambda m: m["id"])
    assert received["subject"] == "Hi Alice" and received["seen"] is False and split["subject"] == "Split"
    mailbox = mailbox_ids(client, user)["INBOX"]
    full = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages/{received['id']}").json
    rcpt = {"value": "Alice@Example.com", "formatted": "Alice@Example.com"}
    assert full["envelope"] == {"from": "x@remote.test", "rcpt": [rcpt]}
    source = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages/{received['id']}/message.eml")
    assert source.content.startswith(b"Received: from ")
    assert [m["subject"] for m in inbox(client, wild)] == ["Stray"]


def test_forwarded_addresses_filters_and_account_targets_forward_through_the_queue(
    client: falcon.testing.TestClient, system: System, receiver: int, peer: Peer
) -> None:
    forwarded = client.simulate_post(
        "/api/addresses/forwarded", json={"address": "team@example.com", "targets": ["lead@remote.test"]}
    )
    assert forwarded.status_code == 200, forwarded.text
    user = create_user(client, "bob", targets=["bob@elsewhere.test"])
    created = client.simulate_post(
        f"/api/users/{user}/filters",
        json={"query": {"subject": "invoice"}, "action": {"targets": ["accounts@remote.test"], "seen": True}},
    )
    assert created.status_code == 200, created.text

    send(receiver, mail("ceo@remote.test", "team@example.com", "Kickoff"), "ceo@remote.test", ["team@example.com"])
    send(receiver, mail("shop@remote.test", "bob@example.com", "Your invoice"), "shop@remote.test", ["bob@example.com"])
    queue = OutboundQueue(system)
    assert queue.run_once() == 3
    delivered = sorted((r.rcpt_tos[0], r.mail_from) for r in peer.received)
    assert delivered == [
        ("accounts@remote.test", "shop@remote.test"),
        ("bob@elsewhere.test", "shop@remote.test"),
        ("lead@remote.test", "ceo@remote.test"),
    ]
    (kept,) = inbox(client, user)
    assert kept["subject"] == "Your invoice" and kept["seen"] is True  # the filter marked it

    limited = {"address": "once@example.com", "targets": ["only@remote.test"], "forwards": 1}
    assert client.simulate_post("/api/addresses/forwarded", json=limited).status_code == 200
    for subject in ("First", "Second"):
        send(receiver, mail("ceo@remote.test", "once@example.com", subject), "ceo@remote.test", ["once@example.com"])
    assert queue.run_once() == 1  # the daily `forwards` limit of the address lets one through
    assert [r.rcpt_tos for r in peer.received[3:]] == [["only@remote.test"]]

    mailbox = mailbox_ids(client, user)["INBOX"]
    shown = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages/{kept['id']}").json
    assert [t["value"] for t in shown["forwardTargets"]] == ["accounts@remote.test", "bob@elsewhere.test"]
    assert shown["outbound"][0]["entries"] == []  # both forwards are done
    again = client.simulate_post(
        f"/api/users/{user}/mailboxes/{mailbox}/messages/{kept['id']}/forward", json={"target": 2}
    )
    assert again.status_code == 200, again.text
    assert again.json["forwarded"] == [{"seq": "001", "type": "mail", "value": "bob@elsewhere.test"}]


def test_an_autoreply_answers_each_sender_once_per_interval_and_never_automatic_mail(
    client: falcon.testing.TestClient, system: System, receiver: int, peer: Peer
) -> None:
    user = create_user(client, "carol", name="Carol")
    put = client.simulate_put(
        f"/api/users/{user}/autoreply", json={"status": True, "subject": "Away", "text": "Back Monday"}
    )
    assert put.status_code == 200, put.text
    send(receiver, mail("dan@remote.test", "carol@example.com", "Question"), "dan@remote.test", ["carol@example.com"])
    send(receiver, mail("dan@remote.test", "carol@example.com", "Another"), "dan@remote.test", ["carol@example.com"])
    send(receiver, mail("list@remote.test", "carol@example.com", "Digest", Precedence="bulk"), "list@remote.test",
         ["carol@example.com"])  # fmt: skip
    send(receiver, mail("robot@remote.test", "carol@example.com", "Report", Auto_Submitted="auto-generated"),
         "robot@remote.test", ["carol@example.com"])  # fmt: skip
    assert OutboundQueue(system).run_once() == 1
    (answer,) = peer.received
    assert answer.rcpt_tos == ["dan@remote.test"] and answer.mail_from == "<>"  # the null sender
    assert b"Subject: Auto: Away" in answer.data and b"Auto-Submitted: auto-replied" in answer.data
    assert b"In-Reply-To: <Question@remote.test>" in answer.data
    assert len(inbox(client, user)) == 4

    desk = {"address": "desk@example.com", "targets": ["team@remote.test"], "autoreply": {"status": True}}
    assert client.simulate_post("/api/addresses/forwarded", json=desk).status_code == 200
    for subject in ("Order", "Order again"):
        send(receiver, mail("dan@remote.test", "desk@example.com", subject), "dan@remote.test", ["desk@example.com"])
    assert OutboundQueue(system).run_once() == 3  # two forwards, one autoreply from the forwarded address
    answers = [r for r in peer.received if r.rcpt_tos == ["dan@remote.test"]]
    assert len(answers) == 2 and b"Subject: Auto: Re: Order" in answers[1].data
    assert b"From: desk@example.com" in answers[1].data


def test_one_account_mails_another_through_the_queue_and_the_receiver_with_a_valid_dkim_signature(
    database_url: str, tmp_path: object
) -> None:
    port = free_port()
    settings = Settings(
        database_url=database_url,
        api_access_token=ROOT,
        email_domain="example.com",
        smtp_relay=f"smtp://127.0.0.1:{port}",
    )
    system = System(settings)
    controller = ReceiverController(system, "127.0.0.1", port, lmtp=False)
    controller.start()
    try:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT})
        key = client.simulate_post("/api/dkim", json={"domain": "example.com", "selector": "mail"}).json
        sender = create_user(client, "erin")
        reader = create_user(client, "frank")
        sent = client.simulate_post(
            f"/api/users/{sender}/submit",
            json={"to": [{"name": "Frank", "address": "frank@example.com"}], "subject": "Hello Frank", "text": "Hi!"},
        )
        assert sent.status_code == 200, sent.text
        assert OutboundQueue(system).run_once() == 1
        (got,) = inbox(client, reader)
        assert got["subject"] == "Hello Frank" and got["from"]["address"] == "erin@example.com"
        mailbox = mailbox_ids(client, reader)["INBOX"]
        raw = client.simulate_get(f"/api/users/{reader}/mailboxes/{mailbox}/messages/{got['id']}/message.eml").content
        signed = raw[raw.index(b"DKIM-Signature:") :]  # what the receiver got, after its own Received line
        record = key["dnsTxt"]["value"].encode()
        assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
    finally:
        controller.stop()
        system.close()


def test_lmtp_answers_data_once_per_recipient(client: falcon.testing.TestClient, system: System) -> None:
    gina = create_user(client, "gina")
    create_user(client, "hank", quota=1)  # full: its answer is its own
    port = free_port()
    controller = ReceiverController(system, "127.0.0.1", port, lmtp=True)
    controller.start()
    try:
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as lmtp:
            lmtp.ehlo_or_helo_if_needed()
            lmtp.mail("x@remote.test")
            assert lmtp.rcpt("gina@example.com")[0] == 250
            assert lmtp.rcpt("hank@example.com")[0] == 250
            lmtp.putcmd("data")
            assert lmtp.getreply()[0] == 354
            lmtp.send(
                mail("x@remote.test", "gina@example.com", "Both").as_bytes().replace(b"\n", b"\r\n") + b"\r\n.\r\n"
            )
            replies = [lmtp.getreply(), lmtp.getreply()]
        assert [code for code, _ in replies] == [250, 552]
    finally:
        controller.stop()
    assert [m["subject"] for m in inbox(client, gina)] == ["Both"]


def test_webhooks_hear_of_new_mail_and_http_and_relay_targets_get_forwards(
    client: falcon.testing.TestClient,
    system: System,
    receiver: int,
    peer: Peer,
    http_sink: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    base, posts = http_sink
    user = create_user(client, "ivy")
    other = create_user(client, "jack")
    for body in (
        {"type": ["messageNew"], "url": f"{base}/hook", "user": user},
        {"type": ["user.created"], "url": f"{base}/other"},
    ):
        assert client.simulate_post("/api/webhooks", json=body).status_code == 200
    desk = {"address": "desk@example.com", "targets": [f"{base}/inbound", peer.url]}
    assert client.simulate_post("/api/addresses/forwarded", json=desk).status_code == 200

    send(receiver, mail("kim@remote.test", "ivy@example.com", "Ping"), "kim@remote.test", ["ivy@example.com"])
    send(receiver, mail("kim@remote.test", "jack@example.com", "Pong"), "kim@remote.test", ["jack@example.com"])
    assert wait_for(lambda: [p for p in posts if p[0] == "/hook"])
    ((_, _, body),) = [p for p in posts if p[0] == "/hook"]
    event = json.loads(body)
    assert event["ev"] == "messageNew" and event["user"] == user and event["subject"] == "Ping" and event["uid"] == 1
    assert event["from"] == {"name": "", "address": "kim@remote.test"}
    assert other and not [p for p in posts if p[0] == "/other"]

    send(receiver, mail("kim@remote.test", "desk@example.com", "Help"), "kim@remote.test", ["desk@example.com"])
    assert OutboundQueue(system).run_once() == 2
    ((_, headers, body),) = [p for p in posts if p[0] == "/inbound"]
    assert headers["Content-Type"] == "message/rfc822" and b"Subject: Help" in body
    assert [(r.rcpt_tos, r.mail_from) for r in peer.received] == [(["desk@example.com"], "kim@remote.test")]


def listening(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as probe:
            return probe.noop()[0] == 250
    except OSError:
        return False


@pytest.mark.e2e
def test_mail_travels_between_the_running_processes(database_url: str, server_factory, tmp_path) -> None:
    """`chainmail serve` queues a submission, `chainmail deliver` hands it to `chainmail smtp`, which stores it;
    the recipient the receiver refuses comes back to the sender as a bounce report."""
    server = server_factory(database_url, workers=2)
    smtp_port = free_port()
    env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_SMTP_RELAY=f"smtp://127.0.0.1:{smtp_port}")
    env.update(CHAINMAIL_DELIVER_POLL_INTERVAL="0.2", CHAINMAIL_LOG_LEVEL="info")
    receiver = chainmail("smtp", "--port", str(smtp_port), env=env, log=tmp_path / "smtp.log")
    assert wait_for(lambda: listening(smtp_port), timeout=60), (tmp_path / "smtp.log").read_text()
    worker = chainmail("deliver", env=env, log=tmp_path / "deliver.log")
    api = httpx.Client(base_url=server.url, headers={"X-Access-Token": SERVE_TOKEN}, timeout=30)
    try:
        sender = api.post("/api/users", json={"username": "lena", "password": "secretvalue"}).json()["id"]
        reader = api.post("/api/users", json={"username": "mike", "password": "secretvalue"}).json()["id"]
        to = [{"address": "mike@example.com"}, {"address": "ghost@example.com"}]
        sent = api.post(f"/api/users/{sender}/submit", json={"to": to, "subject": "Across", "text": "hi"})
        assert sent.status_code == 200, sent.text

        def listed(user: str) -> list[dict]:
            folders = api.get(f"/api/users/{user}/mailboxes").json()["results"]
            inbox = next(f["id"] for f in folders if f["path"] == "INBOX")
            return api.get(f"/api/users/{user}/mailboxes/{inbox}/messages").json()["results"]

        def logs() -> str:
            return f"{(tmp_path / 'deliver.log').read_text()}\n{(tmp_path / 'smtp.log').read_text()}"

        arrived = wait_for(lambda: listed(reader), timeout=90)
        assert [m["subject"] for m in arrived] == ["Across"], logs()
        bounce = wait_for(lambda: listed(sender), timeout=90)
        assert [m["subject"] for m in bounce] == ["Delivery Status Notification (Failure)"], logs()
    finally:
        for process in (receiver, worker):
            process.terminate()
            process.wait(timeout=20)
    assert receiver.returncode == 0 and worker.returncode == 0, (tmp_path / "deliver.log").read_text()
