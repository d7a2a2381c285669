"""`allowUnsafe: false` looks passwords up in the Pwned Passwords range API; a local server answers as the
real one does (and checks that only a 5-character SHA-1 prefix is sent, with `Add-Padding`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.system import System
from tests.local_http import QuietHandler, serving

from .conftest import ROOT_TOKEN
from .test_accounts_auth import login

BREACHED = "password123"


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest().upper()


class RangeApi(QuietHandler):
    breached: dict[str, int] = {_sha1(BREACHED): 251682}
    requests: list[str] = []
    failing = False

    def do_GET(self) -> None:
        match = re.fullmatch(r"/range/([0-9A-F]{5})", self.path)
        RangeApi.requests.append(self.path)
        if match is None or self.headers.get("Add-Padding") != "true":
            self.send_error(400, "The hash prefix was not in a valid format")
            return
        if RangeApi.failing:
            self.send_error(503)
            return
        prefix = match.group(1)
        lines = [f"{h[5:]}:{n}" for h, n in self.breached.items() if h.startswith(prefix)]
        lines += [f"{'0' * 34}{i:01X}:0" for i in range(5)]  # padding entries count 0
        body = "\r\n".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def range_api() -> Iterator[str]:
    RangeApi.requests, RangeApi.failing = [], False
    with serving(RangeApi) as url:
        yield url


@pytest.fixture
def checked(database_url: str, range_api: str) -> Iterator[falcon.testing.TestClient]:
    settings = Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        pwned_passwords_url=range_api,
    )
    system = System(settings)
    yield falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
    system.close()


def test_a_breached_password_is_refused_on_create_and_nothing_is_created(checked: falcon.testing.TestClient) -> None:
    refused = checked.simulate_post(
        "/api/users", json={"username": "leaky", "password": BREACHED, "allowUnsafe": False}
    )
    resolved = checked.simulate_get("/api/users/resolve/leaky")

    assert (refused.status_code, refused.json) == (
        403,
        {"error": "Provided password was found from breached passwords list", "code": "InsecurePasswordError"},
    )
    assert resolved.status_code == 404
    assert RangeApi.requests == [f"/range/{_sha1(BREACHED)[:5]}"]  # the prefix only, never the hash


def test_a_password_not_in_the_list_is_accepted(checked: falcon.testing.TestClient) -> None:
    created = checked.simulate_post(
        "/api/users", json={"username": "careful", "password": "a-long-unlisted-phrase-42", "allowUnsafe": "no"}
    )

    assert created.status_code == 200, created.text
    assert len(RangeApi.requests) == 1


def test_without_allow_unsafe_false_or_with_a_hash_nothing_is_asked(checked: falcon.testing.TestClient) -> None:
    default = checked.simulate_post("/api/users", json={"username": "trusting", "password": BREACHED})
    hashed = checked.simulate_post(
        "/api/users",
        json={
            "username": "prehashed",
            "password": "$1$saltsalt$UAHUNZjRl4H8Nj9Nd3nYM/",
            "hashedPassword": True,
            "allowUnsafe": False,
        },
    )

    assert (default.status_code, hashed.status_code) == (200, 200)
    assert RangeApi.requests == []


def test_a_breached_password_is_refused_on_update_and_the_old_one_keeps_working(
    checked: falcon.testing.TestClient,
) -> None:
    user_id = checked.simulate_post("/api/users", json={"username": "changer", "password": "first-secret"}).json["id"]

    refused = checked.simulate_put(f"/api/users/{user_id}", json={"password": BREACHED, "allowUnsafe": False})
    assert login(checked, "changer", "first-secret").status_code == 200
    allowed = checked.simulate_put(f"/api/users/{user_id}", json={"password": "second-secret", "allowUnsafe": False})

    assert (refused.status_code, refused.json["code"]) == (403, "InsecurePasswordError")
    assert allowed.json == {"success": True}
    assert login(checked, "changer", "second-secret").status_code == 200


def test_a_failing_service_does_not_block_the_password(checked: falcon.testing.TestClient) -> None:
    RangeApi.failing = True

    created = checked.simulate_post(
        "/api/users", json={"username": "lucky", "password": BREACHED, "allowUnsafe": False}
    )

    assert created.status_code == 200
    assert len(RangeApi.requests) == 1


def test_an_unreachable_service_does_not_block_the_password(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        pwned_passwords_url="http://127.0.0.1:9",  # discard port: nothing listens
        pwned_passwords_timeout=0.5,
    )
    system = System(settings)
    try:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
        created = client.simulate_post(
            "/api/users", json={"username": "offline", "password": BREACHED, "allowUnsafe": 0}
        )
    finally:
        system.close()
    assert created.status_code == 200
