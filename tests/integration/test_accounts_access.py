"""A user token reaches only its own account: every accounts route walked with another user's token."""

from __future__ import annotations

import falcon.testing

from .test_accounts_auth import create, login

DENIED = {"error": "Not enough privileges", "code": "MissingPrivileges"}


def test_a_foreign_user_token_is_refused_on_every_accounts_route(client: falcon.testing.TestClient) -> None:
    mine = create(client, "owner")
    theirs = create(client, "stranger")
    their_address = client.simulate_post(f"/api/users/{theirs}/addresses", json={"address": "s2@example.org"}).json[
        "id"
    ]
    event = client.simulate_get(f"/api/users/{theirs}/authlog").json
    forwarded = client.simulate_post("/api/addresses/forwarded", json={"address": "fw@example.org"}).json["id"]
    token = login(client, "owner", "secretvalue", token=True).json["token"]
    as_me = {"X-Access-Token": token}

    routes = [
        ("GET", f"/api/users/{theirs}", None),
        ("PUT", f"/api/users/{theirs}", {"name": "hacked"}),
        ("DELETE", f"/api/users/{theirs}", None),
        ("PUT", f"/api/users/{theirs}/logout", {}),
        ("POST", f"/api/users/{theirs}/password/reset", {}),
        ("POST", f"/api/users/{theirs}/quota/reset", {}),
        ("GET", f"/api/users/{theirs}/restore", None),
        ("POST", f"/api/users/{theirs}/restore", {}),
        ("POST", "/api/quota/reset", {}),
        ("GET", f"/api/users/{theirs}/authlog", None),
        ("GET", f"/api/users/{theirs}/authlog/{'0' * 24}", None),
        ("POST", "/api/authenticate", {"username": "stranger", "password": "secretvalue"}),
        ("POST", "/api/preauth", {"username": "stranger"}),
        ("GET", "/api/users/resolve/stranger", None),
        ("GET", f"/api/users/{theirs}/addresses", None),
        ("POST", f"/api/users/{theirs}/addresses", {"address": "evil@example.org"}),
        ("GET", f"/api/users/{theirs}/addresses/{their_address}", None),
        ("PUT", f"/api/users/{theirs}/addresses/{their_address}", {"name": "x"}),
        ("DELETE", f"/api/users/{theirs}/addresses/{their_address}", None),
        ("GET", "/api/addresses/resolve/stranger@example.com", None),
        ("PUT", "/api/addresses/renameDomain", {"oldDomain": "example.com", "newDomain": "evil.org"}),
        ("POST", "/api/addresses/forwarded", {"address": "mine@evil.org"}),
        ("GET", f"/api/addresses/forwarded/{forwarded}", None),
        ("PUT", f"/api/addresses/forwarded/{forwarded}", {"name": "x"}),
        ("DELETE", f"/api/addresses/forwarded/{forwarded}", None),
    ]
    for method, path, body in routes:
        result = client.simulate_request(method, path, json=body, headers=as_me)
        assert (result.status_code, result.json) == (403, DENIED), (method, path, result.text)

    # Listings fall back to the caller's own rows; the own account stays reachable.
    users = client.simulate_get("/api/users", headers=as_me).json
    addresses = client.simulate_get("/api/addresses", headers=as_me).json
    assert [u["id"] for u in users["results"]] == [mine]
    assert {a["user"] for a in addresses["results"]} == {mine}
    assert client.simulate_get(f"/api/users/{mine}/authlog", headers=as_me).status_code == 200
    assert client.simulate_get(f"/api/users/{mine}/addresses", headers=as_me).status_code == 200
    assert event["total"] == 0


def test_a_user_token_may_not_change_what_its_role_hides(client: falcon.testing.TestClient) -> None:
    mine = create(client, "limited", tags=["plan-basic"])
    token = login(client, "limited", "secretvalue", token=True).json["token"]
    as_me = {"X-Access-Token": token}

    changed = client.simulate_put(
        f"/api/users/{mine}",
        json={"name": "New Name", "tags": ["plan-gold"], "disabledScopes": ["imap"]},
        headers=as_me,
    )
    seen_by_root = client.simulate_get(f"/api/users/{mine}").json

    assert changed.json == {"success": True}
    assert seen_by_root["name"] == "New Name"
    assert seen_by_root["tags"] == ["plan-basic"] and seen_by_root["disabledScopes"] == []
