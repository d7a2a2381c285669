"""The users slice of the WildDuck API, as a WildDuck client sees it, on both stores."""

from __future__ import annotations

import base64
import json

import falcon.testing
from sqlalchemy import select

from chainmail.projections.mailboxes import mailboxes
from chainmail.system import System


def create(client: falcon.testing.TestClient, username: str, **fields: object) -> str:
    result = client.simulate_post("/api/users", json={"username": username, "password": "secretvalue", **fields})
    assert result.status_code == 200, result.text
    assert result.json["success"] is True
    return result.json["id"]


def test_a_created_user_can_be_read_back_at_once(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "john.doe", name="John Doe", tags=["Work", "vip", "work"], quota=1024)

    got = client.simulate_get(f"/api/users/{user_id}")

    assert got.status_code == 200
    body = got.json
    assert body["success"] is True
    assert body["id"] == user_id
    assert body["username"] == "john.doe"
    assert body["name"] == "John Doe"
    assert body["address"] == "john.doe@example.com"
    assert body["tags"] == ["vip", "Work"]
    assert body["limits"]["quota"] == {"allowed": 1024, "used": 0}
    assert body["limits"]["recipients"] == {"allowed": 2000, "used": 0, "ttl": False}
    assert body["hasPasswordSet"] is True
    assert body["activated"] is True and body["disabled"] is False and body["suspended"] is False
    assert body["metaData"] == {} and body["disabledScopes"] == []
    assert got.text.endswith("}\n") and '\n  "success": true' in got.text  # pretty JSON like WildDuck


def test_a_new_user_gets_the_five_default_mailboxes(client: falcon.testing.TestClient, system: System) -> None:
    user_id = create(client, "folders", mailboxes={"sent": "Saadetud"})

    with system.engine.connect() as conn:
        rows = conn.execute(select(mailboxes).where(mailboxes.c.user_id == user_id)).mappings().all()

    assert {(r["path"], r["special_use"]) for r in rows} == {
        ("INBOX", None),
        ("Saadetud", "\\Sent"),
        ("Trash", "\\Trash"),
        ("Drafts", "\\Drafts"),
        ("Junk", "\\Junk"),
    }
    assert all(r["uid_next"] == 1 and r["modify_index"] == 0 for r in rows)
    assert len({r["uid_validity"] for r in rows}) == 1


def test_mailbox_names_follow_the_account_language(client: falcon.testing.TestClient, system: System) -> None:
    user_id = create(client, "eesti", language="et")

    with system.engine.connect() as conn:
        paths = {r.special_use: r.path for r in conn.execute(select(mailboxes).where(mailboxes.c.user_id == user_id))}

    assert paths["\\Trash"] == "Prügikast"


def test_an_explicit_address_and_no_address(client: falcon.testing.TestClient) -> None:
    with_address = create(client, "alias", address="Someone+tag@Example.ORG")
    without = create(client, "nobody", emptyAddress=True)

    assert client.simulate_get(f"/api/users/{with_address}").json["address"] == "someone@example.org"
    assert client.simulate_get(f"/api/users/{without}").json["address"] == ""


def test_usernames_are_unique_ignoring_dots(client: falcon.testing.TestClient) -> None:
    create(client, "first.last")

    again = client.simulate_post("/api/users", json={"username": "firstlast", "password": "x"})

    assert again.status_code == 400
    assert again.json == {"error": "This username already exists", "code": "UserExistsError", "username": "firstlast"}


def test_an_address_cannot_belong_to_two_users(client: falcon.testing.TestClient) -> None:
    create(client, "one", address="shared@example.org")

    second = client.simulate_post(
        "/api/users", json={"username": "two", "password": "x", "address": "shared@example.org"}
    )

    assert second.status_code == 400
    assert second.json["code"] == "AddressExistsError"


def test_resolving_a_username(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "resolvable")

    assert client.simulate_get("/api/users/resolve/resolvable").json == {"success": True, "id": user_id}
    assert client.simulate_get("/api/users/resolve/Resolv.able").json["id"] == user_id
    missing = client.simulate_get("/api/users/resolve/nobody")
    assert missing.status_code == 404
    assert missing.json == {"error": "This user does not exist", "code": "UserNotFound"}


def test_deleting_a_user_frees_the_username_and_its_address(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "leaving")

    deleted = client.simulate_delete(f"/api/users/{user_id}")

    assert deleted.status_code == 200
    body = deleted.json
    assert body["success"] is True and body["code"] == "TaskScheduled" and body["user"] == user_id
    assert body["addresses"] == {"deleted": 1}
    assert len(body["task"]) == 24 and body["deleteAfter"].endswith("Z")
    assert client.simulate_get(f"/api/users/{user_id}").status_code == 404
    assert client.simulate_get("/api/users/resolve/leaving").status_code == 404
    assert create(client, "leaving") != user_id


def test_deleting_twice_reports_the_same_task_and_a_later_date_reschedules(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "twice")
    first = client.simulate_delete(f"/api/users/{user_id}", params={"deleteAfter": "2030-01-01T00:00:00Z"}).json

    second = client.simulate_delete(f"/api/users/{user_id}", params={"deleteAfter": "2031-01-01T00:00:00Z"}).json

    assert first["deleteAfter"] == "2030-01-01T00:00:00.000Z"
    assert second["task"] == first["task"]
    assert second["deleteAfter"] == "2031-01-01T00:00:00.000Z"
    assert second["addresses"] == {"deleted": 0}


def test_deleting_an_unknown_user_succeeds_with_nothing_deleted(client: falcon.testing.TestClient) -> None:
    result = client.simulate_delete("/api/users/0123456789abcdef01234567")

    assert result.status_code == 200
    assert result.json["addresses"] == {"deleted": 0}


def _cursor_page(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))[1]


def test_listing_users_pages_with_cursors(client: falcon.testing.TestClient) -> None:
    ids = [create(client, f"user{i:02d}") for i in range(7)]

    first = client.simulate_get("/api/users", params={"limit": 3}).json
    second = client.simulate_get("/api/users", params={"limit": 3, "next": first["nextCursor"]}).json
    third = client.simulate_get("/api/users", params={"limit": 3, "next": second["nextCursor"]}).json
    back = client.simulate_get("/api/users", params={"limit": 3, "previous": third["previousCursor"]}).json

    assert [u["id"] for u in first["results"]] == ids[:3]
    assert [u["id"] for u in second["results"]] == ids[3:6]
    assert [u["id"] for u in third["results"]] == ids[6:]
    assert [u["id"] for u in back["results"]] == ids[3:6]
    assert (first["total"], first["page"], first["previousCursor"]) == (7, 1, False)
    assert (second["page"], third["page"], back["page"]) == (2, 3, 2)
    assert third["nextCursor"] is False
    assert _cursor_page(first["nextCursor"]) == 2
    assert first["query"] == ""
    item = first["results"][0]
    assert set(item) >= {"id", "username", "name", "address", "tags", "targets", "quota", "hasPasswordSet"}


def test_listing_filters_by_query_and_tags(client: falcon.testing.TestClient) -> None:
    alpha = create(client, "alpha", tags=["red", "blue"])
    beta = create(client, "beta", tags=["red"])
    create(client, "gamma", tags=["green"])

    def found(**params: object) -> list[str]:
        body = client.simulate_get("/api/users", params=params).json
        assert body["total"] == len(body["results"])
        return sorted(u["id"] for u in body["results"])

    assert found(query="alp") == [alpha]
    assert found(query="ta@example") == [beta]  # partial match on the address
    assert found(tags="red") == sorted([alpha, beta])
    assert len(found(tags="RED, green")) == 3
    assert found(requiredTags="red,blue") == [alpha]
    assert found(tags="blue", requiredTags="red") == [alpha]
    assert found(query="%") == []  # LIKE wildcards are literal


def test_listing_ignores_unknown_keys_and_a_foreign_cursor(client: falcon.testing.TestClient) -> None:
    create(client, "someone")
    foreign = base64.urlsafe_b64encode(b'{"$oid":"000000000000000000000000"}').decode().rstrip("=")

    result = client.simulate_get("/api/users", params={"page": 3, "whatever": 1, "next": foreign})

    assert result.status_code == 200
    assert result.json["page"] == 1 and len(result.json["results"]) == 1


def test_metadata_is_returned_parsed_and_only_when_asked_in_listings(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "meta", metaData={"plan": "pro"}, internalData='{"crm": 7}')

    assert client.simulate_get(f"/api/users/{user_id}").json["metaData"] == {"plan": "pro"}
    assert "metaData" not in client.simulate_get("/api/users").json["results"][0]
    listed = client.simulate_get("/api/users", params={"metaData": "yes", "internalData": "1"}).json["results"][0]
    assert listed["metaData"] == {"plan": "pro"} and listed["internalData"] == {"crm": 7}


def test_forwarding_targets_are_typed_and_listed(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "forwarder", targets=["copy@example.net", "https://hooks.example.net/in"])

    assert client.simulate_get(f"/api/users/{user_id}").json["targets"] == [
        "copy@example.net",
        "https://hooks.example.net/in",
    ]
    assert [u["id"] for u in client.simulate_get("/api/users", params={"forward": "hooks"}).json["results"]] == [
        user_id
    ]


def test_pre_hashed_passwords_are_kept_and_unknown_hashes_refused(client: falcon.testing.TestClient) -> None:
    bcrypt = "$2b$10$abcdefghijklmnopqrstuu3Ol4Dr5tHxW7VxvpLqOTsh2uD6V1bG2"
    ok = client.simulate_post("/api/users", json={"username": "hashed", "password": bcrypt, "hashedPassword": True})
    bad = client.simulate_post("/api/users", json={"username": "hashed2", "password": "plain", "hashedPassword": "yes"})

    assert ok.status_code == 200
    assert bad.status_code == 400 and bad.json["code"] == "InputValidationError"
