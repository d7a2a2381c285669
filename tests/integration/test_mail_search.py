"""Search (GET lists, POST applies an action) and the address register, as a WildDuck client sees them."""

from __future__ import annotations

import falcon.testing

from tests.integration.mail_support import create_user, mailbox_ids, upload


def seed(client: falcon.testing.TestClient) -> tuple[str, dict[str, str]]:
    user = create_user(client, "searcher")
    ids = mailbox_ids(client, user)
    upload(client, user, ids["INBOX"], subject="Quarterly report", text="numbers inside", date="2026-01-01T00:00:00Z")
    upload(
        client,
        user,
        ids["INBOX"],
        subject="Lunch",
        text="pizza on friday",
        seen=True,
        flagged=True,
        date="2026-02-01T00:00:00Z",
        **{"from": {"name": "Alice Cook", "address": "alice@food.example"}},
    )
    upload(client, user, ids["Trash"], subject="Old report", text="junk numbers", date="2026-03-01T00:00:00Z")
    return user, ids


def subjects(answer: dict) -> list[str]:
    return [m["subject"] for m in answer["results"]]


def test_search_by_text_fields_flags_and_dates(client: falcon.testing.TestClient) -> None:
    user, ids = seed(client)
    url = f"/api/users/{user}/search"

    assert subjects(client.simulate_get(url, params={"query": "report"}).json) == ["Old report", "Quarterly report"]
    assert subjects(client.simulate_get(url, params={"query": "report", "searchable": "true"}).json) == [
        "Quarterly report"
    ]
    assert subjects(client.simulate_get(url, params={"from": "alice"}).json) == ["Lunch"]
    assert subjects(client.simulate_get(url, params={"subject": "LUNCH"}).json) == ["Lunch"]
    assert subjects(client.simulate_get(url, params={"flagged": "true"}).json) == ["Lunch"]
    assert subjects(client.simulate_get(url, params={"unseen": "true", "mailbox": ids["INBOX"]}).json) == [
        "Quarterly report"
    ]
    dated = client.simulate_get(url, params={"datestart": "2026-01-15T00:00:00Z", "dateend": "2026-02-15T00:00:00Z"})
    assert subjects(dated.json) == ["Lunch"]
    ordered = client.simulate_get(url, params={"order": "asc"}).json
    assert subjects(ordered) == ["Quarterly report", "Lunch", "Old report"] and ordered["total"] == 3
    assert subjects(client.simulate_get(url, params={"q": "from:alice is:read"}).json) == ["Lunch"]
    assert subjects(client.simulate_get(url, params={"mailbox": ids["INBOX"], "id": "2:*"}).json) == ["Lunch"]


def test_search_or_terms_from_the_query_string(client: falcon.testing.TestClient) -> None:
    user, _ids = seed(client)

    found = client.simulate_get(f"/api/users/{user}/search?or.subject=lunch&or.query=quarterly")

    assert sorted(subjects(found.json)) == ["Lunch", "Quarterly report"]


def test_search_pages_with_cursors(client: falcon.testing.TestClient) -> None:
    user, _ids = seed(client)
    url = f"/api/users/{user}/search"

    first = client.simulate_get(url, params={"limit": 2}).json
    second = client.simulate_get(url, params={"limit": 2, "next": first["nextCursor"]}).json

    assert len(first["results"]) == 2 and first["total"] == 3 and second["page"] == 2
    assert len(second["results"]) == 1 and second["nextCursor"] is False
    assert set(subjects(first)) | set(subjects(second)) == {"Lunch", "Quarterly report", "Old report"}


def test_search_rejects_bad_terms(client: falcon.testing.TestClient) -> None:
    user, _ids = seed(client)
    url = f"/api/users/{user}/search"

    assert client.simulate_get(url, params={"id": "1-2"}).status_code == 400
    assert client.simulate_get(url, params={"datestart": "yesterday"}).status_code == 400
    assert client.simulate_get(url, params={"order": "up"}).status_code == 400
    assert client.simulate_get(f"/api/users/{'0' * 24}/search").json["code"] == "UserNotFound"
    assert client.simulate_post(url, json={"query": "x"}).status_code == 400  # action is required
    both = client.simulate_post(url, json={"action": {"delete": True, "seen": True}})
    assert both.status_code == 400


def test_search_apply_moves_and_flags_every_match(client: falcon.testing.TestClient) -> None:
    user, ids = seed(client)
    url = f"/api/users/{user}/search"

    applied = client.simulate_post(url, json={"query": "report", "action": {"moveTo": ids["Junk"], "seen": True}})

    assert applied.status_code == 200 and applied.json["success"] is True and applied.json["existing"] is False
    junk = client.simulate_get(f"/api/users/{user}/mailboxes/{ids['Junk']}/messages").json
    assert junk["specialUse"] == "\\Junk"
    assert sorted(subjects(junk)) == ["Old report", "Quarterly report"]
    assert all(m["seen"] for m in junk["results"])
    deleted = client.simulate_post(url, json={"mailbox": ids["Junk"], "action": {"delete": True}})
    assert deleted.status_code == 200
    assert client.simulate_get(f"/api/users/{user}/mailboxes/{ids['Junk']}/messages").json["total"] == 0


def test_the_address_register_learns_senders(client: falcon.testing.TestClient) -> None:
    user, _ids = seed(client)

    found = client.simulate_get(f"/api/users/{user}/addressregister", params={"query": "alice"}).json
    none = client.simulate_get(f"/api/users/{user}/addressregister", params={"query": "receiver"}).json

    assert [(r["name"], r["address"]) for r in found["results"]] == [("Alice Cook", "alice@food.example")]
    assert len(found["results"][0]["id"]) == 24
    assert none["results"] == []  # recipients of received mail are not registered
    assert client.simulate_get(f"/api/users/{user}/addressregister").status_code == 400
