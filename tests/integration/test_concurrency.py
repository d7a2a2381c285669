"""Racing writers: unique names stay unique and nothing is lost when requests arrive at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import falcon.testing
from sqlalchemy import func, select

from chainmail.config import Settings
from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.wallet_tools import MailTemplate
from chainmail.domain.mail.application import NewUser
from chainmail.domain.mail.asps import ApplicationPassword
from chainmail.domain.mail.users import User
from chainmail.http.app import create_app
from chainmail.mail.inbound import Inbound, resolve_recipient
from chainmail.projections.messages import storage_used
from chainmail.projections.outbound import outbound_queue, recipients_since
from chainmail.projections.users import users
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN, in_threads
from tests.integration.identity_wallets import EvmWallet, sign_in_headers
from tests.integration.test_accounts_webauthn import ORIGIN, RP_ID, SoftwareAuthenticator

Client = falcon.testing.TestClient


def test_racing_creations_of_one_username_let_exactly_one_win(settings: Settings) -> None:
    # Each racer has its own System, as separate gunicorn workers would.
    systems = [System(settings) for _ in range(6)]
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(systems))

    def race(system: System) -> None:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
        barrier.wait()
        result = client.simulate_post("/api/users", json={"username": "contested", "password": ""})
        results.append((result.status_code, result.json.get("code", "")))

    threads = [threading.Thread(target=race, args=(s,)) for s in systems]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [(200, "")] + [(400, "UserExistsError")] * 5
    with systems[0].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 1
    for system in systems:
        system.close()


def test_parallel_creations_of_different_users_all_land(settings: Settings) -> None:
    systems = [System(settings) for _ in range(4)]
    failures: list[str] = []

    def create_many(index: int, system: System) -> None:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
        for n in range(10):
            result = client.simulate_post("/api/users", json={"username": f"p{index}x{n}", "password": ""})
            if result.status_code != 200:
                failures.append(result.text)

    threads = [threading.Thread(target=create_many, args=(i, s)) for i, s in enumerate(systems)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with systems[0].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 40
    for system in systems:
        system.close()


def test_many_clients_changing_one_user_at_once_all_land(workers: list[System], clients: list[Client]) -> None:
    """Sixteen clients over two workers change one user at once (a settings page open on every device):
    each change is answered 200 and recorded. Before, on PostgreSQL a change that lost the race for the user
    five times in a row answered 500 (one in five at sixteen clients)."""
    user = clients[0].simulate_post("/api/users", json={"username": "shared", "password": ""}).json["id"]
    before = workers[0].mail.repository.get(User.create_id(user)).version
    answers: list[int] = []

    def change(n: int) -> None:
        for i in range(8):
            answer = clients[n % 2].simulate_put(f"/api/users/{user}", json={"name": f"client {n} change {i}"})
            answers.append(answer.status_code)

    in_threads(change, 16)

    assert answers == [200] * 128
    assert workers[1].mail.repository.get(User.create_id(user)).version == before + 128
    name = clients[1].simulate_get(f"/api/users/{user}").json["name"]
    assert name.startswith("client ") and name.endswith(" change 7")  # some client's last change


def test_a_command_without_a_key_that_lost_the_race_for_an_aggregate_reruns_in_its_turn(system: System) -> None:
    """A command with no key of its own that loses the race for an aggregate reruns in that aggregate's turn,
    so that its reruns and the other losers' queue instead of racing again: sixteen at once all land."""
    user = system.mail.create_user(NewUser(username="raced", password=""))
    aggregate = User.create_id(str(user))
    before = system.mail.repository.get(aggregate).version
    failures: list[BaseException] = []

    def rename(n: int) -> None:
        def command() -> None:
            record = system.mail.repository.get(aggregate)
            record.update({"name": f"rename {n}"}, record.auth_version, system.mail.clock())
            system.mail.save(record)

        try:
            system.mail.retrying(command)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    in_threads(rename, 16)

    assert failures == []
    assert system.mail.repository.get(aggregate).version == before + 16


def test_application_passwords_made_while_the_user_changes_all_land(clients: list[Client]) -> None:
    """Clients make application passwords for one user while others change the user, over two workers: every
    password is answered 200 and listed. Each adds itself to the user, so they raced the changes for it."""
    user = clients[0].simulate_post("/api/users", json={"username": "keys", "password": ""}).json["id"]
    made: list[str] = []
    answers: list[int] = []

    def work(n: int) -> None:
        for i in range(4):
            client = clients[n % 2]
            if n < 8:
                asp = {"description": f"device {n}.{i}", "scopes": ["imap"], "generateMobileconfig": False}
                answer = client.simulate_post(f"/api/users/{user}/asps", json=asp)
                if answer.status_code == 200:
                    made.append(answer.json["id"])
            else:
                answer = client.simulate_put(f"/api/users/{user}", json={"name": f"client {n} change {i}"})
            answers.append(answer.status_code)

    in_threads(work, 16)

    assert answers == [200] * 64
    listed = clients[1].simulate_get(f"/api/users/{user}/asps").json["results"]
    assert sorted(a["id"] for a in listed) == sorted(made)
    assert len(made) == 32


def test_security_key_challenges_asked_for_at_once_are_all_given(clients: list[Client]) -> None:
    """Sixteen security key challenges for one user at once, over two workers (a sign-in page open on several
    devices): every one is given. Each is recorded on the user, so they raced for it, and some answered 500
    on both stores."""
    user = clients[0].simulate_post("/api/users", json={"username": "keyholder", "password": ""}).json["id"]
    answers: list[int] = []
    challenges: list[str] = []

    def ask(n: int) -> None:
        for _ in range(4):
            answer = clients[n % 2].simulate_post(
                f"/api/users/{user}/2fa/webauthn/registration-challenge",
                json={"description": f"key {n}", "origin": "https://example.com", "rpId": "example.com"},
            )
            answers.append(answer.status_code)
            if answer.status_code == 200:
                challenges.append(answer.json["registrationOptions"]["challenge"])

    in_threads(ask, 16)

    assert answers == [200] * 64
    assert len(set(challenges)) == 64


def test_security_keys_registered_and_used_while_the_user_changes_all_land(clients: list[Client]) -> None:
    """Eight security keys of one user are registered and then sign in, each on its own device, while eight
    other clients change the user, over two workers: every answer is 200 and every key is listed. Each
    ceremony spends its challenge on the user, so they raced the changes for it and answered 500."""
    user = clients[0].simulate_post("/api/users", json={"username": "fido", "password": ""}).json["id"]
    keys = [SoftwareAuthenticator() for _ in range(8)]
    answers: list[tuple[str, int]] = []

    def ask(client: Client, step: str, body: dict[str, str]) -> dict:
        answer = client.simulate_post(f"/api/users/{user}/2fa/webauthn/{step}", json={**body, "rpId": RP_ID})
        answers.append((step, answer.status_code))
        return answer.json

    def work(n: int) -> None:
        client = clients[n % 2]
        if n >= 8:
            for i in range(4):
                answer = client.simulate_put(f"/api/users/{user}", json={"name": f"client {n} change {i}"})
                answers.append(("change", answer.status_code))
            return
        key = keys[n]
        options = ask(client, "registration-challenge", {"description": f"key {n}", "origin": ORIGIN})
        ask(client, "registration-attestation", key.register(options["registrationOptions"]["challenge"]))
        for _ in range(3):
            options = ask(client, "authentication-challenge", {"origin": ORIGIN})
            ask(client, "authentication-assertion", key.assert_(options["authenticationOptions"]["challenge"]))

    in_threads(work, 16)

    assert [answer for answer in answers if answer[1] != 200] == []
    assert len(answers) == 8 * 8 + 8 * 4
    listed = clients[1].simulate_get(f"/api/users/{user}/2fa/webauthn/credentials").json["credentials"]
    assert sorted(c["rawId"] for c in listed) == sorted(k.credential_id.hex() for k in keys)


def test_one_webhook_deleted_by_several_clients_at_once_is_deleted_once(clients: list[Client]) -> None:
    """Eight clients over two workers delete one webhook at once: one is answered 200 and the others 404
    (as a delete after it), never 500. The losers of the race rerun, in the webhook's turn, and find it gone."""
    hook = {"type": ["*"], "url": "https://hooks.example.org/all"}
    webhook = clients[0].simulate_post("/api/webhooks", json=hook).json["id"]
    barrier = threading.Barrier(8)
    answers: list[tuple[int, str]] = []

    def delete(n: int) -> None:
        barrier.wait()
        answer = clients[n % 2].simulate_delete(f"/api/webhooks/{webhook}")
        answers.append((answer.status_code, answer.json.get("code", "")))

    in_threads(delete, 8)

    assert sorted(answers) == [(200, "")] + [(404, "WebhookNotFound")] * 7
    assert clients[1].simulate_get("/api/webhooks").json["results"] == []


def test_one_template_changed_and_deleted_from_several_devices(workers: list[System], clients: list[Client]) -> None:
    """A wallet's template changed from eight devices at once, over two workers: every change is answered 200
    and lands; then eight deletes at once are each answered 200, and a change after them 409. The changes
    were made on the template the request had loaded, so all but one of a race answered 500."""
    wallet = EvmWallet()
    signed = sign_in_headers(clients[0], wallet)
    base = f"/idx/wallets/{wallet.address}/templates"
    created = clients[0].simulate_post(base, json={"name": "T", "subject": "s", "body": "b"}, headers=signed)
    template = created.json["data"]["template"]["id"]
    answers: list[tuple[int, str]] = []

    def change(n: int) -> None:
        for i in range(4):
            body = {"name": f"device {n} change {i}"} if n % 2 else {"body": f"device {n} change {i}"}
            answer = clients[n % 2].simulate_put(f"{base}/{template}", json=body, headers=signed)
            answers.append((answer.status_code, answer.json.get("code", "")))

    def delete(n: int) -> None:
        answer = clients[n % 2].simulate_delete(f"{base}/{template}", headers=signed)
        answers.append((answer.status_code, answer.json.get("code", "")))

    in_threads(change, 8)
    assert answers == [(200, "")] * 32
    assert workers[1].context(Identity).repository.get(MailTemplate.create_id(template)).version == 1 + 32
    shown = clients[1].simulate_get(f"{base}/{template}", headers=signed).json["data"]["template"]
    assert shown["name"].startswith("device") and shown["body"].startswith("device")

    answers.clear()
    in_threads(delete, 8)
    assert answers == [(200, "")] * 8
    after = clients[0].simulate_put(f"{base}/{template}", json={"name": "again"}, headers=signed)
    assert (after.status_code, after.json["code"]) == (409, "TEMPLATE_DELETED")
    assert workers[0].context(Identity).repository.get(MailTemplate.create_id(template)).version == 1 + 32 + 1


def test_one_application_password_signs_in_on_many_connections_at_once(
    workers: list[System], clients: list[Client]
) -> None:
    """A mail client signs in on eight connections at once with one application password, over two workers:
    every sign-in is answered 200 and recorded on it. Each use changes the password's record, so all but one
    of a race answered 500."""
    user = clients[0].simulate_post("/api/users", json={"username": "imapper", "password": "secretvalue"}).json["id"]
    asp = clients[0].simulate_post(f"/api/users/{user}/asps", json={"description": "mail app", "scopes": ["imap"]})
    answers: list[int] = []

    def sign_in(n: int) -> None:
        for _ in range(4):
            body = {"username": "imapper", "password": asp.json["password"], "scope": "imap"}
            answers.append(clients[n % 2].simulate_post("/api/authenticate", json=body).status_code)

    in_threads(sign_in, 8)

    assert answers == [200] * 32
    record = workers[1].mail.repository.get(ApplicationPassword.create_id(asp.json["id"]))
    assert record.version == 1 + 32


def test_one_session_ended_or_one_file_deleted_by_several_clients_at_once(clients: list[Client]) -> None:
    """Eight clients end one session (its token) at once and eight delete one stored file at once, over two
    workers: none is answered 500 (a lost race did), the token stops working and the file is gone. A client
    whose token another had ended before its request was read is answered 403 InvalidToken, as WildDuck does."""
    user = clients[0].simulate_post("/api/users", json={"username": "sessions", "password": "secretvalue"}).json["id"]
    login = {"username": "sessions", "password": "secretvalue", "token": True}
    token = clients[0].simulate_post("/api/authenticate", json=login, headers={"X-Access-Token": ROOT_TOKEN})
    mine = {"X-Access-Token": token.json["token"]}
    stored = {"filename": "a.txt", "contentType": "text/plain", "content": "aGVsbG8="}
    file = clients[0].simulate_post(f"/api/users/{user}/storage", json=stored).json["id"]
    barrier = threading.Barrier(16)
    ended: list[int] = []
    deleted: list[tuple[int, str]] = []

    def work(n: int) -> None:
        barrier.wait()
        if n < 8:
            ended.append(clients[n % 2].simulate_delete("/api/authenticate", headers=mine).status_code)
        else:
            answer = clients[n % 2].simulate_delete(f"/api/users/{user}/storage/{file}")
            deleted.append((answer.status_code, answer.json.get("code", "")))

    in_threads(work, 16)

    assert set(ended) <= {200, 403} and 200 in ended, ended  # 403 InvalidToken: ended before it was read
    assert clients[1].simulate_get("/api/users/me", headers=mine).json["code"] == "InvalidToken"
    assert sorted(deleted) == [(200, "")] + [(404, "FileNotFound")] * 7
    assert clients[1].simulate_get(f"/api/users/{user}/storage").json["total"] == 0


def test_one_domain_renamed_by_several_clients_at_once(clients: list[Client]) -> None:
    """An operator's script renames a domain from eight clients at once (it retried), over two workers: every
    answer is 200, the DKIM key and the alias moved once. A key or alias lost to another rename answered 500,
    with the addresses renamed already."""
    user = (
        clients[0]
        .simulate_post("/api/users", json={"username": "cleo", "password": "", "address": "cleo@old.example.org"})
        .json["id"]
    )
    clients[0].simulate_post("/api/dkim", json={"domain": "old.example.org", "selector": "s"})
    clients[0].simulate_post("/api/domainaliases", json={"alias": "alias.example.org", "domain": "old.example.org"})
    barrier = threading.Barrier(8)
    answers: list[dict] = []

    def rename(n: int) -> None:
        barrier.wait()
        body = {"oldDomain": "old.example.org", "newDomain": "new.example.org"}
        answers.append(clients[n % 2].simulate_put("/api/addresses/renameDomain", json=body).json)

    in_threads(rename, 8)

    assert [a.get("success") for a in answers] == [True] * 8, answers
    assert sum(a["modifiedDkim"] for a in answers) == 1 and sum(a["modifiedAliases"] for a in answers) == 1
    assert clients[1].simulate_get("/api/dkim/resolve/new.example.org").status_code == 200
    assert clients[1].simulate_get("/api/domainaliases").json["results"][0]["domain"] == "new.example.org"
    assert clients[1].simulate_get(f"/api/users/{user}").json["address"] == "cleo@new.example.org"


def test_quota_resets_while_mail_is_uploaded_keep_every_byte(workers: list[System], clients: list[Client]) -> None:
    """Four clients upload 100 messages while two reset the account's quota (recount its storage) over and
    over, over two workers: the storage the account shows is the size of its messages, to the byte. The
    recount read the messages before its turn, so an upload landing in between was lost from the figure."""
    user = clients[0].simulate_post("/api/users", json={"username": "quota", "password": ""}).json["id"]
    folders = clients[0].simulate_get(f"/api/users/{user}/mailboxes").json["results"]
    inbox = next(m["id"] for m in folders if m["path"] == "INBOX")
    uploading = threading.Event()
    uploading.set()
    answers: list[int] = []

    def work(n: int) -> None:
        client = clients[n % 2]
        if n < 4:
            for i in range(25):
                message = {"from": {"address": "a@example.org"}, "subject": f"{n}.{i}", "text": "hello " * (50 + i)}
                answers.append(
                    client.simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages", json=message).status_code
                )
            uploading.clear()
            return
        while uploading.is_set():
            answers.append(client.simulate_post(f"/api/users/{user}/quota/reset", json={}).status_code)

    in_threads(work, 6)

    assert set(answers) == {200} and answers.count(200) > 100
    listed = clients[1].simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages", params={"limit": 250}).json
    assert listed["total"] == 100
    with workers[1].engine.connect() as conn:
        stored = storage_used(conn, user)
    assert clients[1].simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == stored


def queued(system: System, reason: str, parent: str) -> int:
    with system.engine.connect() as conn:
        q = outbound_queue.c
        return conn.execute(
            select(func.count()).select_from(outbound_queue).where(q.reason == reason, q.parent_id == parent)
        ).scalar_one()


def test_mail_to_a_forwarded_address_at_once_keeps_its_forward_limit_and_one_autoreply(
    workers: list[System], clients: list[Client]
) -> None:
    """Sixteen messages from one sender reach a forwarded address at once, over two workers: it forwards two
    (its daily limit) and answers once (its autoreply, once per sender). Each was decided by counting the
    entries queued before it, outside any turn: 11 to 15 were forwarded and 3 to 8 answered."""
    address = "relay@example.com"
    made = (
        clients[0]
        .simulate_post(
            "/api/addresses/forwarded",
            json={
                "address": address,
                "targets": ["far@remote.test"],
                "forwards": 2,
                "autoreply": {"status": True, "subject": "Away", "text": "Back soon"},
            },
        )
        .json["id"]
    )
    recipient = resolve_recipient(workers[0], address)
    inbound = [Inbound(worker) for worker in workers]
    barrier = threading.Barrier(16)

    def deliver(n: int) -> None:
        raw = f"From: boss@remote.test\r\nTo: {address}\r\nSubject: {n}\r\n\r\nhi\r\n".encode()
        barrier.wait()
        inbound[n % 2].receive("boss@remote.test", recipient, address, raw)

    in_threads(deliver, 16)

    assert queued(workers[1], "forward", made) == 2
    assert queued(workers[1], "autoreply", made) == 1


def test_an_account_over_quota_submitting_at_once_keeps_its_daily_recipient_limit(
    workers: list[System], clients: list[Client]
) -> None:
    """An account over its quota (no copy is kept in Sent) submits sixteen messages of two recipients each at
    once, over two workers, with a daily limit of two recipients: one is queued and the others refused. The
    limit was checked before the entry's save, outside the account's turn: 6 to 22 recipients were queued."""
    user = clients[0].simulate_post("/api/users", json={"username": "sender", "password": ""}).json["id"]
    folders = clients[0].simulate_get(f"/api/users/{user}/mailboxes").json["results"]
    inbox = next(m["id"] for m in folders if m["path"] == "INBOX")
    message = {"from": {"address": "a@example.org"}, "subject": "fill", "text": "hello"}
    clients[0].simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages", json=message)
    assert clients[0].simulate_put(f"/api/users/{user}", json={"recipients": 2, "quota": 1}).status_code == 200
    barrier = threading.Barrier(16)
    answers: list[tuple[int, str]] = []

    def submit(n: int) -> None:
        to = [{"address": f"r{n}@remote.test"}, {"address": f"s{n}@remote.test"}]
        barrier.wait()
        answer = clients[n % 2].simulate_post(f"/api/users/{user}/submit", json={"to": to, "subject": "x", "text": "x"})
        answers.append((answer.status_code, answer.json.get("code", "")))

    in_threads(submit, 16)

    with workers[1].engine.connect() as conn:
        assert recipients_since(conn, user, datetime(2000, 1, 1, tzinfo=UTC)) == 2
    assert sorted(status for status, _ in answers) == [200] + [403] * 15, answers
