"""Sending mail: `POST /users/:user/submit`, drafts, forwards and the outbound queue, delivered by the queue
worker to a real SMTP peer (aiosmtpd on 127.0.0.1), on both stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import dkim
import falcon.testing
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.settings import IdentitySettings
from chainmail.mail.inbound import Inbound, resolve_recipient
from chainmail.mail.mime import parse_message
from chainmail.mail.queue import OutboundQueue
from chainmail.projections import outbound as outbound_model
from chainmail.projections.outbound import OutboundProjection
from chainmail.projections.points import ledger_of
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids, upload
from tests.integration.smtp_peers import Peer, smtp_peer
from tests.integration.test_accounts_users import token_for
from tests.integration.test_projections import rows

INDEXER = Account.from_key("0x" + "11" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def peer() -> Iterator[Peer]:
    with smtp_peer() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, peer: Peer) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        smtp_relay=peer.url,
        identity=IdentitySettings(indexer_wallet_address=INDEXER.address),
        secret="delivery-tests-secret",  # DKIM keys sealed at rest: signing must open them
    )


@pytest.fixture
def system(settings: Settings, clock: Clock) -> Iterator[System]:
    running = System(settings, clock=clock)
    yield running
    running.close()


@pytest.fixture
def queue(system: System) -> OutboundQueue:
    return OutboundQueue(system)


def submit(client: falcon.testing.TestClient, user: str, **body: object) -> falcon.testing.Result:
    return client.simulate_post(f"/api/users/{user}/submit", json=body)


def queue_rows(system: System, queue_id: str) -> list[dict]:
    with system.engine.connect() as conn:
        return outbound_model.queue_entries(conn, queue_id)


def message(client: falcon.testing.TestClient, user: str, mailbox: str, uid: int) -> dict:
    found = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages/{uid}")
    assert found.status_code == 200, found.text
    return found.json


def test_a_submitted_message_is_kept_in_sent_and_delivered_to_every_recipient_dkim_signed(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "sender", name="Sender Person")
    key = client.simulate_post("/api/dkim", json={"domain": "example.com", "selector": "wd"}).json
    answer = submit(
        client,
        user,
        to=[{"name": "Ann", "address": "ann@remote.test", "nested": "unknown keys are ignored here too"}],
        cc=[{"address": "bob@remote.test"}],
        bcc=[{"address": "hidden@remote.test"}],
        subject="Quarterly report",
        text="Numbers attached.",
        attachments=[{"filename": "a.txt", "content": "aGVsbG8="}],
        someUnknownKey="ignored, as WildDuck's allowUnknown",
    )
    assert answer.status_code == 200, answer.text
    sent = answer.json["message"]
    assert set(sent) == {"id", "mailbox", "size", "queueId"} and answer.json["success"] is True
    assert sent["mailbox"] == mailbox_ids(client, user)["Sent Mail"]
    stored = message(client, user, sent["mailbox"], sent["id"])
    assert stored["seen"] is True and stored["draft"] is False and stored["subject"] == "Quarterly report"
    assert stored["from"] == {"name": "Sender Person", "address": "sender@example.com"}
    assert [r["recipient"] for r in queue_rows(system, sent["queueId"])] == [
        "ann@remote.test",
        "bob@remote.test",
        "hidden@remote.test",
    ]

    assert queue.run_once() == 3
    assert sorted(r.rcpt_tos[0] for r in peer.received) == ["ann@remote.test", "bob@remote.test", "hidden@remote.test"]
    assert {r.mail_from for r in peer.received} == {"sender@example.com"}
    delivered = peer.received[0].data
    assert b"hidden@remote.test" not in delivered  # Bcc leaves no trace in what goes out
    assert delivered.startswith(b"DKIM-Signature:")
    record = key["dnsTxt"]["value"].encode()
    assert dkim.verify(delivered, dnsfunc=lambda name, timeout=5: record if name.startswith(b"wd._domainkey") else None)
    assert parse_message(delivered).attachments[0].filename == "a.txt"
    assert {r["status"] for r in queue_rows(system, sent["queueId"])} == {"delivered"}
    assert queue.run_once() == 0  # nothing is delivered twice


def test_a_peer_answering_4xx_defers_with_backoff_and_the_retry_delivers(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer, clock: Clock
) -> None:
    user = create_user(client, "patient")
    client.simulate_post("/api/settings/const:sender:defer_times", json={"value": "1m, 5m"})
    queue_id = submit(client, user, to=[{"address": "later@remote.test"}], text="hi").json["message"]["queueId"]
    peer.handler.answer = "451 4.7.1 Greylisted, try again"
    assert queue.run_once() == 1
    (row,) = queue_rows(system, queue_id)
    assert row["status"] == "deferred" and row["attempts"] == 1 and "451" in row["last_response"]
    assert queue.run_once() == 0  # not due before the first wait is over

    peer.handler.answer = "250 OK"
    clock.advance(minutes=1, seconds=1)
    assert queue.run_once() == 1
    (row,) = queue_rows(system, queue_id)
    assert row["status"] == "delivered" and row["attempts"] == 2
    assert [r.rcpt_tos for r in peer.received] == [["later@remote.test"]]


def test_deferrals_past_the_last_wait_and_5xx_answers_bounce_with_a_report_in_the_senders_inbox(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer, clock: Clock
) -> None:
    user = create_user(client, "bouncer")
    client.simulate_post("/api/settings/const:sender:defer_times", json={"value": "1m"})
    peer.handler.rcpt_answers = {
        "nobody@remote.test": "550 5.1.1 No such user here",
        "slow@remote.test": "421 4.4.2 Overloaded",
    }
    to = [{"address": "nobody@remote.test"}, {"address": "slow@remote.test"}, {"address": "fine@remote.test"}]
    queue_id = submit(client, user, to=to, subject="Party", text="come").json["message"]["queueId"]
    assert queue.run_once() == 3
    clock.advance(minutes=2)
    assert queue.run_once() == 1
    statuses = {r["recipient"]: r["status"] for r in queue_rows(system, queue_id)}
    assert statuses == {"nobody@remote.test": "bounced", "slow@remote.test": "bounced", "fine@remote.test": "delivered"}

    inbox = mailbox_ids(client, user)["INBOX"]
    listed = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages").json
    assert listed["total"] == 2
    reports = [message(client, user, inbox, m["id"]) for m in listed["results"]]
    assert {r["subject"] for r in reports} == {"Delivery Status Notification (Failure)"}
    texts = " ".join(r["text"] for r in reports)
    assert "nobody@remote.test" in texts and "550 5.1.1 No such user here" in texts and "421 4.4.2" in texts


def test_a_queued_message_can_be_deleted_before_it_is_sent(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "regretful")
    other = create_user(client, "someoneelse")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    to = [{"address": f"r{i}@remote.test"} for i in range(6)]
    queue_id = submit(client, user, to=to, text="oops", sendTime=later).json["message"]["queueId"]
    assert queue.run_once() == 0  # not due yet

    assert client.simulate_delete(f"/api/users/{other}/outbound/{queue_id}").status_code == 403
    deleted = client.simulate_delete(f"/api/users/{user}/outbound/{queue_id}")
    assert deleted.status_code == 200 and deleted.json == {"success": True, "queueId": queue_id, "deleted": 6}
    assert {r["status"] for r in queue_rows(system, queue_id)} == {"deleted"}
    again = client.simulate_delete(f"/api/users/{user}/outbound/{queue_id}")
    assert again.json["deleted"] == 0

    unknown = client.simulate_delete(f"/api/users/{user}/outbound/{'a' * 24}")
    assert unknown.status_code == 404 and unknown.json["code"] == "NoSuchQueueEntry"
    assert unknown.json["success"] is False
    malformed = client.simulate_delete(f"/api/users/{user}/outbound/not-a-queue-id")
    assert malformed.status_code == 400 and malformed.json["code"] == "InputValidationError"
    assert peer.received == []


def test_recipient_limits_and_bad_input_are_refused_without_a_500(
    client: falcon.testing.TestClient, system: System
) -> None:
    user = create_user(client, "limited")
    client.simulate_post("/api/settings/const:max:rcpt_to", json={"value": 2})
    many = submit(client, user, to=[{"address": f"x{i}@remote.test"} for i in range(3)], text="hi")
    assert many.status_code == 403 and many.json["code"] == "TooMany" and many.json["allowed"] == 2
    with system.engine.connect() as conn:
        assert outbound_model.recipients_since(conn, user, datetime(2000, 1, 1, tzinfo=UTC)) == 0

    client.simulate_put(f"/api/users/{user}", json={"recipients": 3})
    assert submit(client, user, to=[{"address": "a@remote.test"}, {"address": "b@remote.test"}]).status_code == 200
    daily = submit(client, user, to=[{"address": "c@remote.test"}, {"address": "d@remote.test"}])
    assert daily.status_code == 403 and daily.json["code"] == "RateLimitedError"
    client.simulate_put(f"/api/users/{user}", json={"quota": 1})  # no copy kept: the queue entry saved alone
    still = submit(client, user, to=[{"address": "c@remote.test"}, {"address": "d@remote.test"}])
    assert still.status_code == 403 and still.json["code"] == "RateLimitedError"
    assert submit(client, user, to=[{"address": "c@remote.test"}]).status_code == 200
    with system.engine.connect() as conn:
        assert outbound_model.recipients_since(conn, user, datetime(2000, 1, 1, tzinfo=UTC)) == 3
    client.simulate_put(f"/api/users/{user}", json={"quota": 0})

    for body in (
        {"to": [{"address": "not an address"}]},
        {"to": "ann@remote.test"},
        {"reference": {"mailbox": "x", "id": 1, "action": "reply"}},
        {"reference": {"mailbox": "a" * 24, "id": 1, "action": "shout"}},
        {"sendTime": "yesterday-ish"},
        {"isDraft": "perhaps"},
        {"attachments": [{"content": "@@@not base64@@@"}]},
        {"subject": "x" * 3000},
        {"envelope": {"to": [{"name": "no address"}]}},
        {"indexer": {"message": "m"}},
    ):
        answer = submit(client, user, **body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json["code"] == "InputValidationError"
    missing = submit(client, user, reference={"mailbox": "a" * 24, "id": 5, "action": "reply"}, text="re")
    assert missing.status_code == 404 and missing.json["code"] == "MessageNotFound"
    assert submit(client, "b" * 24, text="x", to=[{"address": "a@remote.test"}]).status_code == 404


def test_a_draft_is_kept_in_drafts_then_submitted_moved_to_sent_and_delivered(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "drafter")
    folders = mailbox_ids(client, user)
    draft = submit(client, user, isDraft=True, to=[{"address": "friend@remote.test"}], subject="Plan", text="draft")
    assert draft.status_code == 200
    saved = draft.json["message"]
    assert saved["mailbox"] == folders["Drafts"] and saved["queueId"] is False
    assert message(client, user, folders["Drafts"], saved["id"])["draft"] is True
    assert queue.run_once() == 0

    inbox_msg = upload(client, user, folders["INBOX"], subject="Not a draft")
    refused = client.simulate_post(f"/api/users/{user}/mailboxes/{folders['INBOX']}/messages/{inbox_msg['id']}/submit")
    assert refused.status_code == 400 and refused.json["code"] == "MessageNotDraft"

    sent = client.simulate_post(f"/api/users/{user}/mailboxes/{folders['Drafts']}/messages/{saved['id']}/submit")
    assert sent.status_code == 200, sent.text
    assert set(sent.json) == {"success", "queueId", "message"}
    moved = sent.json["message"]
    assert moved["mailbox"] == folders["Sent Mail"] and moved["size"] > 0
    now_sent = message(client, user, folders["Sent Mail"], moved["id"])
    assert now_sent["seen"] is True and now_sent["draft"] is False
    (outbound,) = now_sent["outbound"]
    assert outbound["queueId"] == sent.json["queueId"]
    assert [(e["seq"], e["recipient"]) for e in outbound["entries"]] == [("001", "friend@remote.test")]
    drafts = client.simulate_get(f"/api/users/{user}/mailboxes/{folders['Drafts']}/messages").json
    assert drafts["total"] == 0
    assert queue.run_once() == 1
    assert peer.received[0].rcpt_tos == ["friend@remote.test"]
    assert message(client, user, folders["Sent Mail"], moved["id"])["outbound"][0]["entries"] == []
    assert message_from_bytes(peer.received[0].data, policy=policy.default)["Subject"] == "Plan"


def test_replying_and_forwarding_flag_the_referenced_message_and_thread_the_answer(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "replier")
    inbox = mailbox_ids(client, user)["INBOX"]
    original = upload(
        client,
        user,
        inbox,
        subject="Lunch?",
        text="Shall we?",
        headers=[{"key": "Message-ID", "value": "<lunch@remote.test>"}],
    )
    reply = submit(client, user, reference={"mailbox": inbox, "id": original["id"], "action": "reply"}, text="Yes!")
    assert reply.status_code == 200, reply.text
    answered = message(client, user, inbox, original["id"])
    assert answered["answered"] is True and answered["forwarded"] is False
    assert queue.run_once() == 1
    sent = message_from_bytes(peer.received[0].data, policy=policy.default)
    assert peer.received[0].rcpt_tos == ["sender@example.org"]  # the original's From, when no `to` is given
    assert sent["Subject"] == "Re: Lunch?" and sent["In-Reply-To"] == "<lunch@remote.test>"

    forward = submit(
        client,
        user,
        reference={"mailbox": inbox, "id": original["id"], "action": "forward"},
        to=[{"address": "colleague@remote.test"}],
        text="FYI",
    )
    assert forward.status_code == 200
    forwarded = message(client, user, inbox, original["id"])
    assert forwarded["forwarded"] is True
    assert queue.run_once() == 1
    assert message_from_bytes(peer.received[1].data, policy=policy.default)["Subject"] == "Fwd: Lunch?"


def test_forwarding_a_stored_message_queues_it_for_the_given_addresses(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "forwarder")
    inbox = mailbox_ids(client, user)["INBOX"]
    stored = upload(client, user, inbox, subject="Forward me")
    path = f"/api/users/{user}/mailboxes/{inbox}/messages/{stored['id']}/forward"
    assert client.simulate_post(path, json={}).json == {"success": True, "forwarded": []}
    answer = client.simulate_post(path, json={"addresses": ["one@remote.test", "two@remote.test"]})
    assert answer.status_code == 200, answer.text
    assert answer.json["forwarded"] == [
        {"seq": "001", "type": "mail", "value": "one@remote.test"},
        {"seq": "002", "type": "mail", "value": "two@remote.test"},
    ]
    assert queue.run_once() == 2
    assert sorted(r.rcpt_tos[0] for r in peer.received) == ["one@remote.test", "two@remote.test"]
    assert b"Forward me" in peer.received[0].data
    bad = client.simulate_post(path, json={"addresses": ["nope"]})
    assert bad.status_code == 400
    assert client.simulate_post(path, json={"target": 0}).status_code == 400
    gone = client.simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages/999/forward", json={})
    assert gone.status_code == 404 and gone.json["code"] == "MessageNotFound"


def test_a_submission_signed_by_the_indexer_wallet_needs_no_privileges_on_the_account(
    client: falcon.testing.TestClient, system: System
) -> None:
    recipient = create_user(client, "onchainreader")
    create_user(client, "stranger")
    token = token_for(client, "stranger")
    body = {"to": [{"address": "onchainreader@example.com"}], "subject": "MailSent", "text": "from the chain"}

    def as_stranger(**extra: object) -> falcon.testing.Result:
        return client.simulate_post(
            f"/api/users/{recipient}/submit", json={**body, **extra}, headers={"X-Access-Token": token}
        )

    assert as_stranger().status_code == 403
    text = "chainmail delivery for onchainreader tx 0xabc at 2026-11-25T00:00:00Z"
    signature = Account.sign_message(encode_defunct(text=text), INDEXER.key).signature.hex()
    signed = as_stranger(indexer={"message": text, "signature": signature})
    assert signed.status_code == 200, signed.text
    forged = Account.sign_message(encode_defunct(text=text), "0x" + "22" * 32).signature.hex()
    refused = as_stranger(indexer={"message": text, "signature": forged})
    assert refused.status_code == 403 and refused.json["code"] == "IndexerAuthFailed"
    elsewhere = "chainmail delivery for someoneelse tx 0xabc"  # genuinely signed, but for another account
    replayed = Account.sign_message(encode_defunct(text=elsewhere), INDEXER.key).signature.hex()
    assert as_stranger(indexer={"message": elsewhere, "signature": replayed}).status_code == 403


def test_several_workers_deliver_each_recipient_exactly_once(
    client: falcon.testing.TestClient, system: System, peer: Peer
) -> None:
    user = create_user(client, "broadcaster")
    for batch in range(3):
        to = [{"address": f"r{batch}-{i}@remote.test"} for i in range(8)]
        assert submit(client, user, to=to, text=f"batch {batch}").status_code == 200
    workers = [OutboundQueue(system, worker=f"worker-{n}") for n in range(4)]
    attempted: list[int] = []
    start = threading.Barrier(len(workers))

    def work(queue: OutboundQueue) -> None:
        start.wait()
        attempted.append(queue.run_once())

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    recipients = [r.rcpt_tos[0] for r in peer.received]
    assert sum(attempted) == 24 and len(recipients) == 24 and len(set(recipients)) == 24
    assert workers[0].run_once() == 0


def test_a_wallet_account_earns_points_for_sending_replying_and_forwarding(
    client: falcon.testing.TestClient, system: System
) -> None:
    wallet = Account.from_key("0x" + "33" * 32).address.lower()
    user = create_user(client, wallet)
    inbox = mailbox_ids(client, user)["INBOX"]
    original = upload(client, user, inbox, subject="Hi wallet")
    assert submit(client, user, to=[{"address": "a@remote.test"}], text="one").status_code == 200
    assert (
        submit(client, user, reference={"mailbox": inbox, "id": original["id"], "action": "replyAll"}).status_code
        == 200
    )
    forward = {"mailbox": inbox, "id": original["id"], "action": "forward"}
    assert submit(client, user, reference=forward, to=[{"address": "b@remote.test"}]).status_code == 200
    assert submit(client, user, isDraft=True, to=[{"address": "c@remote.test"}]).status_code == 200  # not sent
    assert submit(client, user, uploadOnly=True, to=[{"address": "c@remote.test"}]).status_code == 200
    with system.engine.connect() as conn:
        system.projections.catch_up_all()
        actions = [row["activity"] for row in ledger_of(conn, wallet)]
    assert actions == ["send", "reply", "forward"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
MESSAGE_FIELDS = ["from", "replyTo", "to", "cc", "bcc", "headers", "subject", "text", "html", "attachments"]
SENDING_FIELDS = ["mailbox", "meta", "reference", "isDraft", "draft", "sendTime", "uploadOnly", "envelope", "indexer"]
submit_fields = st.sampled_from([*MESSAGE_FIELDS, *SENDING_FIELDS])


@hypothesis_settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(submit_fields, json_values, max_size=4), target=json_values, queue_id=st.text(max_size=30))
def test_any_field_values_on_the_sending_routes_get_a_clear_answer(
    client: falcon.testing.TestClient, body: dict[str, Any], target: Any, queue_id: str
) -> None:
    user = _fuzz_user(client)
    inbox = mailbox_ids(client, user)["INBOX"]
    for answer in (
        submit(client, user, **body),
        client.simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages/1/forward", json={"target": target}),
        client.simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages/1/submit", json={"sendTime": target}),
        client.simulate_delete(f"/api/users/{user}/outbound/{queue_id.replace('/', '')}"),
    ):
        assert answer.status_code < 500, answer.text


def _fuzz_user(client: falcon.testing.TestClient) -> str:
    found = client.simulate_get("/api/users/resolve/fuzzer")
    return found.json["id"] if found.status_code == 200 else create_user(client, "fuzzer")


def test_a_message_sent_from_a_draft_replaces_it_and_an_account_over_quota_still_sends(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "quotaless")
    folders = mailbox_ids(client, user)
    draft = submit(client, user, isDraft=True, subject="Draft v1", text="v1").json["message"]
    final = submit(
        client,
        user,
        draft={"mailbox": draft["mailbox"], "id": draft["id"]},
        to=[{"address": "editor@remote.test"}],
        subject="Final",
        text="v2",
    )
    assert final.status_code == 200, final.text
    assert client.simulate_get(f"/api/users/{user}/mailboxes/{folders['Drafts']}/messages").json["total"] == 0

    assert client.simulate_put(f"/api/users/{user}", json={"quota": 1}).status_code == 200
    full = submit(client, user, to=[{"address": "editor@remote.test"}], subject="Still sent", text="x")
    assert full.status_code == 200, full.text
    assert full.json["message"]["id"] is False and full.json["message"]["overQuota"] is True
    assert full.json["message"]["queueId"]
    assert queue.run_once() == 2
    subjects = sorted(message_from_bytes(r.data, policy=policy.default)["Subject"] for r in peer.received)
    assert subjects == ["Final", "Still sent"]


def test_the_outbound_queue_read_model_rebuilt_from_the_events_equals_the_live_one(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer
) -> None:
    user = create_user(client, "replayed")
    peer.handler.rcpt_answers = {"soft@remote.test": "451 later", "hard@remote.test": "550 no"}
    to = [{"address": a} for a in ("ok@remote.test", "soft@remote.test", "hard@remote.test")]
    submit(client, user, to=to, text="x")
    later = submit(client, user, to=to, text="y", sendTime=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    queue.run_once()
    client.simulate_delete(f"/api/users/{user}/outbound/{later.json['message']['queueId']}")
    live = rows(system.engine, OutboundProjection)
    assert {r["status"] for r in live["outbound_queue"]} == {"delivered", "deferred", "bounced", "deleted"}
    assert system.projections.replay(OutboundProjection.name).swapped
    assert rows(system.engine, OutboundProjection) == live


def test_a_copy_in_sent_is_kept_only_with_its_queue_entry(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy in Sent and the queue entry that delivers it are recorded in one save: when the entry cannot
    be recorded, no copy is kept either, so a client that sends again finds one copy in Sent, not two."""
    user = create_user(client, "atomic")
    sent_folder = mailbox_ids(client, user)["Sent Mail"]
    listing = f"/api/users/{user}/mailboxes/{sent_folder}/messages"

    def broken(*args: object, **kwargs: object) -> object:
        raise ConnectionError("the database went away while the queue entry was being recorded")

    with monkeypatch.context() as patched:
        patched.setattr(OutboundQueue, "entry", broken)
        failed = submit(client, user, to=[{"address": "friend@remote.test"}], subject="Once", text="hi")
    assert failed.status_code == 500 and set(failed.json) == {"error", "code"}
    assert client.simulate_get(listing).json["total"] == 0

    again = submit(client, user, to=[{"address": "friend@remote.test"}], subject="Once", text="hi")
    assert again.status_code == 200, again.text
    assert client.simulate_get(listing).json["total"] == 1
    assert [r["recipient"] for r in queue_rows(system, again.json["message"]["queueId"])] == ["friend@remote.test"]


def test_concurrent_submissions_from_several_workers_each_keep_one_copy_and_one_queue_entry(
    settings: Settings, clock: Clock, peer: Peer
) -> None:
    """Four workers (each its own System), two threads each, submit from one account at once: the copies in
    Sent share saves (and across workers race for the folder), and each copy is saved with its own queue
    entry, so every submission is kept once, linked to its entry, and delivered once."""
    workers = [System(settings, clock=clock) for _ in range(4)]
    try:
        clients = [falcon.testing.TestClient(create_app(w), headers={"X-Access-Token": ROOT_TOKEN}) for w in workers]
        user = create_user(clients[0], "busy-sender")
        sent_folder = mailbox_ids(clients[0], user)["Sent Mail"]
        answers: list[falcon.testing.Result] = []
        start = threading.Barrier(2 * len(clients))

        def work(client: falcon.testing.TestClient, thread: int) -> None:
            start.wait()
            for n in range(3):
                to = [{"address": f"t{thread}-n{n}@remote.test"}]
                answers.append(submit(client, user, to=to, subject=f"t{thread} n{n}", text="at once"))

        threads = [threading.Thread(target=work, args=(c, 2 * i + t)) for i, c in enumerate(clients) for t in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert [a.status_code for a in answers] == [200] * 24, [a.text for a in answers if a.status_code != 200]
        kept = [a.json["message"] for a in answers]
        assert sorted(m["id"] for m in kept) == list(range(1, 25))
        listed = clients[1].simulate_get(f"/api/users/{user}/mailboxes/{sent_folder}/messages", params={"limit": 50})
        assert listed.json["total"] == 24
        for m in kept:
            shown = message(clients[2], user, sent_folder, m["id"])
            assert [o["queueId"] for o in shown["outbound"]] == [m["queueId"]]
            (entry,) = queue_rows(workers[3], m["queueId"])
            assert entry["recipient"] == shown["to"][0]["address"]
        assert OutboundQueue(workers[0]).run_once() == 24
        assert sorted(r.rcpt_tos[0] for r in peer.received) == sorted(
            f"t{t}-n{n}@remote.test" for t in range(8) for n in range(3)
        )
    finally:
        for w in workers:
            w.close()


def test_a_delivered_message_is_kept_only_with_its_forward(
    client: falcon.testing.TestClient, system: System, queue: OutboundQueue, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account that forwards: the message kept in INBOX and its forward are one save. When the forward
    cannot be recorded, nothing is kept (the receiver answers the sender with a temporary error and the
    sender tries again), so the retry leaves one copy and one forward, not two copies."""
    user = create_user(client, "forwarder", targets=["elsewhere@remote.test"])
    address = client.simulate_get(f"/api/users/{user}").json["address"]
    inbox_listing = f"/api/users/{user}/mailboxes/{mailbox_ids(client, user)['INBOX']}/messages"
    recipient = resolve_recipient(system, address)
    assert recipient is not None
    raw = f"From: a@remote.test\r\nTo: {address}\r\nSubject: Once\r\nMessage-ID: <once@remote.test>\r\n\r\nhi\r\n"
    inbound = Inbound(system, queue)

    def broken(*args: object, **kwargs: object) -> object:
        raise ConnectionError("the database went away while the forward was being recorded")

    with monkeypatch.context() as patched:
        patched.setattr(OutboundQueue, "entry", broken)
        with pytest.raises(ConnectionError):
            inbound.receive("a@remote.test", recipient, address, raw.encode())
    assert client.simulate_get(inbox_listing).json["total"] == 0

    received = inbound.receive("a@remote.test", recipient, address, raw.encode())
    assert received.forward_queue_id and client.simulate_get(inbox_listing).json["total"] == 1
    assert queue.run_once() == 1
    assert [r.rcpt_tos for r in peer.received] == [["elsewhere@remote.test"]]
