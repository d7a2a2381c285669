"""Who may call /api: the root token in any of WildDuck's three places, open mode, user tokens and roles."""

from __future__ import annotations

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.http.auth import Principal
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN

INVALID = {"code": "InvalidToken", "message": "Invalid accessToken value"}


@pytest.fixture
def bare(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


def test_the_root_token_is_accepted_from_query_header_or_bearer(bare: falcon.testing.TestClient) -> None:
    assert bare.simulate_get("/api/health", params={"accessToken": ROOT_TOKEN}).status_code == 200
    assert bare.simulate_get("/api/health", headers={"X-Access-Token": ROOT_TOKEN}).status_code == 200
    assert bare.simulate_get("/api/health", headers={"Authorization": f"Bearer {ROOT_TOKEN}"}).status_code == 200
    assert bare.simulate_get("/api/health", headers={"Authorization": ROOT_TOKEN}).status_code == 200


def test_the_query_token_wins_over_the_headers(bare: falcon.testing.TestClient) -> None:
    wrong_query = bare.simulate_get(
        "/api/health", params={"accessToken": "f" * 40}, headers={"X-Access-Token": ROOT_TOKEN}
    )
    right_query = bare.simulate_get(
        "/api/health", params={"accessToken": ROOT_TOKEN}, headers={"X-Access-Token": "nope"}
    )

    assert (wrong_query.status_code, wrong_query.json) == (403, INVALID)
    assert right_query.status_code == 200


def test_no_or_a_wrong_token_is_403_in_restify_shape(bare: falcon.testing.TestClient) -> None:
    for headers in ({}, {"X-Access-Token": "wrong"}, {"X-Access-Token": "a" * 40}):
        result = bare.simulate_get("/api/users", headers=headers)
        assert (result.status_code, result.json) == (403, INVALID)


def test_the_access_token_is_never_a_parameter(client: falcon.testing.TestClient) -> None:
    created = client.simulate_post(
        "/api/users", params={"accessToken": ROOT_TOKEN}, json={"username": "tok", "password": "x"}
    )

    assert created.status_code == 200, created.text


def test_open_mode_without_root_token_or_access_control(database_url: str) -> None:
    system = System(Settings(database_url=database_url, api_access_control=False))
    try:
        client = falcon.testing.TestClient(create_app(system))
        assert client.simulate_get("/api/users").status_code == 200
        # A token given in open mode must still be valid.
        assert client.simulate_get("/api/users", headers={"X-Access-Token": "b" * 40}).status_code == 403
    finally:
        system.close()


def test_access_control_on_without_any_token_refuses_everyone(database_url: str) -> None:
    system = System(Settings(database_url=database_url, api_access_control=True))
    try:
        client = falcon.testing.TestClient(create_app(system, root_token=None))
        assert client.simulate_get("/api/health").status_code == 403
    finally:
        system.close()


def test_a_user_token_sees_only_its_own_account(system: System, client: falcon.testing.TestClient) -> None:
    mine = client.simulate_post("/api/users", json={"username": "mine", "password": "x", "tags": ["t"]}).json["id"]
    theirs = client.simulate_post("/api/users", json={"username": "theirs", "password": "x"}).json["id"]
    user_token = "c" * 40
    tokens = {user_token: Principal(role="user", user=mine, token=user_token)}
    as_user = falcon.testing.TestClient(
        create_app(system, user_tokens=tokens.get), headers={"X-Access-Token": user_token}
    )

    own = as_user.simulate_get(f"/api/users/{mine}")
    me = as_user.simulate_get("/api/users/me")
    other = as_user.simulate_get(f"/api/users/{theirs}")
    listing = as_user.simulate_get("/api/users")

    assert own.status_code == 200 and "tags" not in own.json  # the user role may not see its tags
    assert me.json["id"] == mine
    assert (other.status_code, other.json) == (403, {"error": "Not enough privileges", "code": "MissingPrivileges"})
    assert [u["id"] for u in listing.json["results"]] == [mine] and listing.json["total"] == 1
    assert as_user.simulate_post("/api/users", json={"username": "x", "password": "y"}).status_code == 403
    assert as_user.simulate_delete(f"/api/users/{mine}").status_code == 403
    assert as_user.simulate_get("/api/users/resolve/theirs").status_code == 403
