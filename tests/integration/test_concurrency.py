"""Racing writers: unique names stay unique and nothing is lost when requests arrive at once."""

from __future__ import annotations

import threading

import falcon.testing
from sqlalchemy import func, select

from chainmail.config import Settings
from chainmail.domain.mail.application import NewUser
from chainmail.domain.mail.users import User
from chainmail.http.app import create_app
from chainmail.projections.users import users
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN, in_threads

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
