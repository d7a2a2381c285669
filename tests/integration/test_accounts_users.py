"""Account maintenance through the WildDuck API: profile updates, password changes and sessions, resets."""

from __future__ import annotations

import falcon.testing

from .mail_support import mailbox_ids, upload
from .test_accounts_auth import create, login


def token_for(client: falcon.testing.TestClient, username: str, password: str = "secretvalue") -> str:
    result = login(client, username, password, token=True)
    assert result.status_code == 200, result.text
    return result.json["token"]


def me(client: falcon.testing.TestClient, token: str) -> falcon.testing.Result:
    return client.simulate_get("/api/users/me", headers={"X-Access-Token": token})


def test_profile_fields_change_and_read_back(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "pam", name="Pam", tags=["a"])

    changed = client.simulate_put(
        f"/api/users/{user_id}",
        json={
            "name": "Pamela",
            "tags": ["Zed", "b", "zed"],
            "spamLevel": 80,
            "quota": 2048,
            "language": "et",
            "targets": ["pam@elsewhere.org", "https://hooks.example.org/in"],
            "metaData": {"plan": "gold"},
            "disabledScopes": ["pop3", "imap"],
            "fromWhitelist": ["Boss@Example.com"],
        },
    )
    got = client.simulate_get(f"/api/users/{user_id}").json

    assert changed.json == {"success": True}
    assert got["name"] == "Pamela"
    assert got["tags"] == ["b", "Zed"]
    assert got["spamLevel"] == 80 and got["language"] == "et"
    assert got["limits"]["quota"]["allowed"] == 2048
    assert got["targets"] == ["pam@elsewhere.org", "https://hooks.example.org/in"]
    assert got["metaData"] == {"plan": "gold"}
    assert got["disabledScopes"] == ["imap", "pop3"]
    assert got["fromWhitelist"] == ["boss@example.com"]
    listed = client.simulate_get("/api/users", params={"tags": "zed"}).json
    assert [u["id"] for u in listed["results"]] == [user_id]


def test_an_update_without_changes_is_refused(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "quinn")

    result = client.simulate_put(f"/api/users/{user_id}", json={})

    assert (result.status_code, result.json) == (400, {"error": "Nothing was updated", "code": "NoUpdates"})


def test_a_password_change_ends_other_sessions_but_renews_the_one_used(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "rose")
    used = token_for(client, "rose")
    other = token_for(client, "rose")

    changed = client.simulate_put(
        f"/api/users/{user_id}",
        json={"password": "a-new-password", "existingPassword": "secretvalue"},
        headers={"X-Access-Token": used},
    )

    assert changed.json == {"success": True}
    assert me(client, used).status_code == 200
    assert me(client, other).status_code == 403
    assert login(client, "rose", "secretvalue").status_code == 403
    assert login(client, "rose", "a-new-password").status_code == 200


def test_a_wrong_existing_password_is_refused_and_logged(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "sam")

    result = client.simulate_put(f"/api/users/{user_id}", json={"password": "x-new-pass", "existingPassword": "wrong"})
    log = client.simulate_get(f"/api/users/{user_id}/authlog").json["results"]

    assert (result.status_code, result.json) == (403, {"error": "Password verification failed", "code": "AuthFail"})
    assert login(client, "sam", "secretvalue").status_code == 200
    assert any(r["action"] == "password change" and r["result"] == "fail" for r in log)


def test_suspending_a_user_ends_sessions_and_sign_in(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "tess")
    token = token_for(client, "tess")

    client.simulate_put(f"/api/users/{user_id}", json={"suspended": True})
    got = client.simulate_get(f"/api/users/{user_id}").json

    assert got["suspended"] is True
    assert me(client, token).status_code == 403
    assert login(client, "tess", "secretvalue").status_code == 403
    client.simulate_put(f"/api/users/{user_id}", json={"suspended": False})
    assert login(client, "tess", "secretvalue").status_code == 200


def test_removing_the_password_stops_master_sign_in(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "uma")

    client.simulate_put(f"/api/users/{user_id}", json={"password": False})

    assert client.simulate_get(f"/api/users/{user_id}").json["hasPasswordSet"] is False
    assert login(client, "uma", "secretvalue").status_code == 403


def test_logout_password_reset_and_quota_routes(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "vic")

    logout = client.simulate_put(f"/api/users/{user_id}/logout", json={"reason": "bye"})
    reset = client.simulate_post(f"/api/users/{user_id}/password/reset")
    quota = client.simulate_post(f"/api/users/{user_id}/quota/reset")
    all_quota = client.simulate_post("/api/quota/reset")

    assert logout.json == {"success": True}
    assert reset.json["success"] is True and reset.json["validAfter"].endswith("Z")
    assert quota.json == {"success": True, "storageUsed": 0, "previousStorageUsed": 0}
    assert all_quota.json["success"] is True and len(all_quota.json["task"]) == 24


def test_unknown_users_are_404(client: falcon.testing.TestClient) -> None:
    nobody = "0" * 24
    for method, path, body in (
        ("put", f"/api/users/{nobody}", {"name": "x"}),
        ("put", f"/api/users/{nobody}/logout", {}),
        ("post", f"/api/users/{nobody}/password/reset", {}),
        ("post", f"/api/users/{nobody}/quota/reset", {}),
    ):
        result = client.simulate_request(method.upper(), path, json=body)
        assert (result.status_code, result.json["code"]) == (404, "UserNotFound"), path


def test_bad_update_input_is_400(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "walt")
    for body in (
        {"spamLevel": 101},
        {"quota": -1},
        {"name": "x" * 257},
        {"targets": ["not a target"]},
        {"disabledScopes": ["imap", "imap"]},
        {"disabledScopes": ["web"]},
        {"existingPassword": ""},
        {"metaData": "[1]"},
        {"unknown": True},
        {"tags": "notalist"},
        {"mtaRelay": "http://x.example.com"},
        {"disabled": "perhaps"},
    ):
        result = client.simulate_put(f"/api/users/{user_id}", json=body)
        assert result.status_code == 400, (body, result.text)
        assert result.json["code"] == "InputValidationError"
    bad_date = client.simulate_post(f"/api/users/{user_id}/password/reset", json={"validAfter": "soon"})
    assert bad_date.status_code == 400


def test_a_deleted_account_can_be_restored_before_its_deletion_runs(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "xavier", tags=["Keep"])
    extra = client.simulate_post(f"/api/users/{user_id}/addresses", json={"address": "x2@example.org"}).json["id"]
    gone = client.simulate_post(f"/api/users/{user_id}/addresses", json={"address": "x3@example.org"}).json["id"]
    client.simulate_delete(f"/api/users/{user_id}/addresses/{gone}")
    later = "2999-01-01T00:00:00.000Z"
    deleted = client.simulate_delete(f"/api/users/{user_id}", params={"deleteAfter": later}).json
    other = create(client, "yvonne")
    client.simulate_post(f"/api/users/{other}/addresses", json={"address": "x2@example.org"})

    info = client.simulate_get(f"/api/users/{user_id}/restore").json
    restored = client.simulate_post(f"/api/users/{user_id}/restore").json
    again = client.simulate_post(f"/api/users/{user_id}/restore")
    user = client.simulate_get(f"/api/users/{user_id}").json

    assert info["username"] == "xavier" and info["tags"] == ["Keep"]
    assert info["recoverableAddresses"] == ["xavier@example.com"]  # x2 was taken meanwhile, x3 went earlier
    assert restored == {
        "success": True,
        "code": "TaskCancelled",
        "user": user_id,
        "task": deleted["task"],
        "addresses": {"recovered": 1, "main": "xavier@example.com"},
    }
    assert (again.status_code, again.json["code"]) == (404, "AccountNotFound")
    assert user["address"] == "xavier@example.com" and user["tags"] == ["Keep"]
    assert login(client, "xavier", "secretvalue").status_code == 200
    addresses = client.simulate_get(f"/api/users/{user_id}/addresses").json["results"]
    assert [(a["address"], a["main"]) for a in addresses] == [("xavier@example.com", True)]
    assert extra != gone
    assert client.simulate_get(f"/api/users/{user_id}/restore").json["code"] == "AccountNotFound"


def test_a_deletion_that_already_ran_cannot_be_cancelled(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "zelda")
    client.simulate_delete(f"/api/users/{user_id}")

    result = client.simulate_post(f"/api/users/{user_id}/restore")

    assert (result.status_code, result.json["code"]) == (400, "DeleteInProgress")


def test_the_restore_info_reports_the_storage_the_deleted_account_still_holds(
    client: falcon.testing.TestClient,
) -> None:
    user_id = create(client, "hoarder")
    inbox = mailbox_ids(client, user_id)["INBOX"]
    for n in range(3):
        upload(client, user_id, inbox, subject=f"keep {n}", text="x" * 1000)
    used = client.simulate_get(f"/api/users/{user_id}").json["limits"]["quota"]["used"]
    client.simulate_delete(f"/api/users/{user_id}", params={"deleteAfter": "2999-01-01T00:00:00.000Z"})

    info = client.simulate_get(f"/api/users/{user_id}/restore").json

    assert used > 3000
    assert info["storageUsed"] == used
