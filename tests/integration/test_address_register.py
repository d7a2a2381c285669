"""PUT /users/:user/addressregister/:id: a WildDuck client disables, enables and renames register entries."""

from __future__ import annotations

import falcon.testing

from chainmail.projections.messages import MessagesProjection
from chainmail.system import System
from tests.integration.mail_support import create_user, mailbox_ids, upload
from tests.integration.test_projections import rows

ALICE = {"name": "Alice Cook", "address": "alice@food.example"}


def seeded(client: falcon.testing.TestClient) -> tuple[str, str, str]:
    user = create_user(client, "registrar")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox, subject="Lunch", text="pizza", **{"from": ALICE})
    entry = lookup(client, user, "alice")[0]["id"]
    return user, inbox, entry


def lookup(client: falcon.testing.TestClient, user: str, query: str) -> list[dict]:
    answer = client.simulate_get(f"/api/users/{user}/addressregister", params={"query": query})
    assert answer.status_code == 200
    return answer.json["results"]


def put(client: falcon.testing.TestClient, user: str, entry: str, body: dict) -> falcon.testing.Result:
    return client.simulate_put(f"/api/users/{user}/addressregister/{entry}", json=body)


def test_an_entry_is_renamed(client: falcon.testing.TestClient) -> None:
    user, _inbox, entry = seeded(client)

    answer = put(client, user, entry, {"disabled": False, "name": "Alice at the canteen"})

    assert answer.status_code == 200 and answer.json == {"success": True}
    assert lookup(client, user, "alice") == [
        {"id": entry, "name": "Alice at the canteen", "address": "alice@food.example"}
    ]


def test_a_disabled_entry_is_no_longer_listed_until_enabled_again(client: falcon.testing.TestClient) -> None:
    user, inbox, entry = seeded(client)

    assert put(client, user, entry, {"disabled": True}).json == {"success": True}
    assert lookup(client, user, "alice") == []

    # a later message from the same sender leaves the entry disabled
    upload(client, user, inbox, subject="Dinner", text="pasta", **{"from": ALICE})
    assert lookup(client, user, "alice") == []

    assert put(client, user, entry, {"disabled": "false"}).json == {"success": True}
    assert [(r["id"], r["name"]) for r in lookup(client, user, "alice")] == [(entry, "Alice Cook")]


def test_an_id_that_is_not_the_users_entry_is_a_plain_failure(client: falcon.testing.TestClient) -> None:
    user, _inbox, entry = seeded(client)
    other = create_user(client, "bystander")

    unknown = put(client, user, "0123456789abcdef01234567", {"disabled": True})
    foreign = put(client, other, entry, {"disabled": True})

    assert (unknown.status_code, unknown.json) == (200, {"success": False})
    assert (foreign.status_code, foreign.json) == (200, {"success": False})
    assert len(lookup(client, user, "alice")) == 1


def test_an_unknown_user_is_404(client: falcon.testing.TestClient) -> None:
    answer = put(client, "0123456789abcdef01234567", "0123456789abcdef01234567", {"disabled": True})

    assert answer.status_code == 404 and answer.json["code"] == "UserNotFound"


def test_a_bad_body_is_400(client: falcon.testing.TestClient) -> None:
    user, _inbox, entry = seeded(client)

    for body in (
        {},
        {"disabled": "maybe"},
        {"disabled": ""},
        {"disabled": True, "name": "x" * 256},
        {"disabled": True, "other": 1},
    ):
        answer = put(client, user, entry, body)
        assert answer.status_code == 400, body
        assert answer.json["code"] == "InputValidationError" and answer.json["error"], body
    bad_id = put(client, user, "not-an-id", {"disabled": True})
    assert bad_id.status_code == 400 and bad_id.json["code"] == "InputValidationError"
    assert len(lookup(client, user, "alice")) == 1


def test_a_replay_rebuilds_the_register_as_the_writes_left_it(
    client: falcon.testing.TestClient, system: System
) -> None:
    user, inbox, entry = seeded(client)
    upload(client, user, inbox, subject="Hi", text="hello", **{"from": {"name": "Bob", "address": "bob@x.example"}})
    put(client, user, entry, {"disabled": True, "name": "Renamed"})
    upload(client, user, inbox, subject="Again", text="again", **{"from": ALICE})

    live = rows(system.engine, MessagesProjection)
    assert system.projections.replay("messages").swapped

    assert rows(system.engine, MessagesProjection) == live
    register = {r["address"]: (r["name"], r["disabled"]) for r in live["address_register"]}
    assert register == {"alice@food.example": ("Alice Cook", True), "bob@x.example": ("Bob", False)}


def test_the_route_is_documented_with_its_body(client: falcon.testing.TestClient) -> None:
    document = client.simulate_get("/api/openapi.json", headers={"X-Access-Token": ""}).json
    put = document["paths"]["/api/users/{user}/addressregister/{id}"]["put"]

    assert put["x-model"] == "chainmail.http.wildduck.search.UpdateAddressRegister"
    assert sorted(p["name"] for p in put["parameters"] if p["in"] == "path") == ["id", "user"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert {"disabled", "name"} <= set(body["properties"]) and "disabled" in body["required"]
