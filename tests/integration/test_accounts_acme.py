"""The ACME http-01 challenge route: published by the ACME client (command or CLI), served without a token."""

from __future__ import annotations

import falcon.testing
import pytest

from chainmail import cli
from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.system import System

from .test_accounts_auth import Clock, create, login

TOKEN = "Xk2tVdKb0c9ELnx_lnp6nE6TPcqmD1ZyVkf0UDKW1Qs"
KEYAUTH = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def challenge(client: falcon.testing.TestClient, token: str, host: str = "mail.example.com") -> falcon.testing.Result:
    # An ACME server sends no access token.
    return client.simulate_get(f"/api/.well-known/acme-challenge/{token}", headers={"Host": host, "X-Access-Token": ""})


@pytest.fixture
def open_client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


def test_a_recorded_challenge_is_served_as_text_without_a_token(
    client: falcon.testing.TestClient, open_client: falcon.testing.TestClient, system: System
) -> None:
    assert client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True}).status_code == 200
    system.mail.record_acme_challenge("mail.example.com", TOKEN, KEYAUTH)

    served = challenge(open_client, TOKEN)
    other_host = challenge(open_client, TOKEN, host="other.example.com")
    other_token = challenge(open_client, "nope")

    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/plain")
    assert served.text == KEYAUTH
    assert (other_host.status_code, other_host.json) == (
        404,
        {"error": "Unknown challenge", "code": "ChallengeNotFound"},
    )
    assert other_token.status_code == 404


def test_the_challenge_is_also_answered_at_the_root_where_acme_servers_ask(
    client: falcon.testing.TestClient, open_client: falcon.testing.TestClient, system: System
) -> None:
    client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True})
    system.mail.record_acme_challenge("mail.example.com", TOKEN, KEYAUTH)

    at_root = open_client.simulate_get(f"/.well-known/acme-challenge/{TOKEN}", headers={"Host": "mail.example.com"})
    unknown = open_client.simulate_get("/.well-known/acme-challenge/nope", headers={"Host": "mail.example.com"})

    assert (at_root.status_code, at_root.text) == (200, KEYAUTH)
    assert (unknown.status_code, unknown.json) == (404, {"error": "Unknown challenge", "code": "ChallengeNotFound"})


def test_the_host_with_a_port_and_in_capitals_still_finds_the_challenge(
    client: falcon.testing.TestClient, open_client: falcon.testing.TestClient, system: System
) -> None:
    client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True})
    system.mail.record_acme_challenge("mail.example.com", TOKEN, KEYAUTH)

    assert challenge(open_client, TOKEN, host="MAIL.example.com:8080").text == KEYAUTH


def test_a_new_challenge_replaces_the_old_and_clearing_withdraws_it(
    client: falcon.testing.TestClient, open_client: falcon.testing.TestClient, system: System
) -> None:
    client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True})
    system.mail.record_acme_challenge("mail.example.com", "first", "first.key")
    system.mail.record_acme_challenge("mail.example.com", "second", "second.key")

    assert challenge(open_client, "first").status_code == 404
    assert challenge(open_client, "second").text == "second.key"
    assert system.mail.clear_acme_challenge("mail.example.com", "first") is False
    assert system.mail.clear_acme_challenge("mail.example.com", "second") is True
    assert challenge(open_client, "second").status_code == 404


def test_a_challenge_expires_after_two_hours(settings: Settings) -> None:
    clock = Clock()
    system = System(settings, clock=clock)
    try:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": "root-token-for-tests"})
        client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True})
        system.mail.record_acme_challenge("mail.example.com", TOKEN, KEYAUTH)
        clock.advance(hours=1, minutes=59)
        before = challenge(client, TOKEN).status_code
        clock.advance(minutes=2)
        after = challenge(client, TOKEN).status_code
    finally:
        system.close()
    assert (before, after) == (200, 404)


def test_deleting_the_certificate_withdraws_its_challenge(
    client: falcon.testing.TestClient, open_client: falcon.testing.TestClient, system: System
) -> None:
    cert_id = client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True}).json["id"]
    system.mail.record_acme_challenge("mail.example.com", TOKEN, KEYAUTH)
    client.simulate_delete(f"/api/certs/{cert_id}")

    assert challenge(open_client, TOKEN).status_code == 404


def test_a_challenge_needs_a_certificate_record_for_the_servername(system: System) -> None:
    from chainmail.domain.errors import NotFound

    with pytest.raises(NotFound, match="Domain not found"):
        system.mail.record_acme_challenge("nocert.example.com", TOKEN, KEYAUTH)


def test_bad_tokens_are_400_and_user_tokens_change_nothing(
    client: falcon.testing.TestClient, open_client: falcon.testing.TestClient
) -> None:
    create(client, "someone")
    user_token = login(client, "someone", "secretvalue", token=True).json["token"]

    too_long = challenge(open_client, "a" * 257)
    with_user_token = client.simulate_get(
        f"/api/.well-known/acme-challenge/{TOKEN}", headers={"X-Access-Token": user_token, "Host": "mail.example.com"}
    )
    with_bad_token = client.simulate_get(
        f"/api/.well-known/acme-challenge/{TOKEN}", headers={"X-Access-Token": "bad", "Host": "mail.example.com"}
    )
    post = client.simulate_post(f"/api/.well-known/acme-challenge/{TOKEN}", json={})

    assert (too_long.status_code, too_long.json["code"]) == (400, "InputValidationError")
    assert with_user_token.status_code == 404  # public: a token neither helps nor hurts
    assert with_bad_token.status_code == 404
    assert post.status_code == 405


def test_the_cli_publishes_and_withdraws_a_challenge(
    settings: Settings, client: falcon.testing.TestClient, open_client: falcon.testing.TestClient, monkeypatch
) -> None:
    client.simulate_post("/api/certs", json={"servername": "mail.example.com", "acme": True})
    monkeypatch.setenv("CHAINMAIL_DATABASE_URL", settings.database_url)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)

    with pytest.raises(SystemExit) as published:
        cli.main(["acme-challenge", "set", "MAIL.example.com", TOKEN, KEYAUTH])
    served = challenge(open_client, TOKEN).text
    with pytest.raises(SystemExit) as cleared:
        cli.main(["acme-challenge", "clear", "mail.example.com", TOKEN])
    with pytest.raises(SystemExit) as unknown:
        cli.main(["acme-challenge", "set", "nocert.example.com", TOKEN, KEYAUTH])

    assert (published.value.code, served, cleared.value.code, unknown.value.code) == (0, KEYAUTH, 0, 2)
    assert challenge(open_client, TOKEN).status_code == 404
