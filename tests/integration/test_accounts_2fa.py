"""Second factors and application passwords: TOTP with real codes, custom 2FA, ASPs for IMAP/SMTP."""

from __future__ import annotations

import base64
import plistlib

import falcon.testing
import pyotp

from .test_accounts_auth import create, login


def test_totp_setup_enable_check_and_disable(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "otto")

    setup = client.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "Chainmail"}).json
    totp = pyotp.TOTP(setup["seed"])
    wrong = client.simulate_post(
        f"/api/users/{user_id}/2fa/totp/enable", json={"token": "000000" if totp.now() != "000000" else "111111"}
    )
    enabled = client.simulate_post(f"/api/users/{user_id}/2fa/totp/enable", json={"token": totp.now()})
    again = client.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "Chainmail"})
    signed_in = login(client, "otto", "secretvalue").json
    checked = client.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": totp.now()})
    bad_check = client.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": "12345x"})
    imap = login(client, "otto", "secretvalue", scope="imap")
    user = client.simulate_get(f"/api/users/{user_id}").json

    assert setup["success"] is True and setup["qrcode"].startswith("data:image/png;base64,")
    assert (wrong.status_code, wrong.json) == (400, {"error": "Invalid authentication token", "code": "InvalidToken"})
    assert enabled.json == {"success": True}
    assert (again.status_code, again.json["code"]) == (400, "TotpEnabled")
    assert signed_in["require2fa"] == ["totp"]
    assert checked.json == {"success": True}
    assert (bad_check.status_code, bad_check.json) == (
        403,
        {"error": "Failed to validate TOTP", "code": "InvalidToken"},
    )
    assert (imap.status_code, imap.json["code"]) == (403, "InvalidAuthScope")  # the master password needs 2FA
    assert user["enabled2fa"] == ["totp"]
    log = client.simulate_get(f"/api/users/{user_id}/authlog").json["results"]
    assert {(r["action"], r["result"]) for r in log} >= {("enable 2fa totp", "success"), ("check 2fa totp", "fail")}

    disabled = client.simulate_delete(f"/api/users/{user_id}/2fa/totp")
    twice = client.simulate_delete(f"/api/users/{user_id}/2fa/totp")
    assert disabled.json == {"success": True} and twice.json["code"] == "TotpDisabled"
    assert login(client, "otto", "secretvalue").json["require2fa"] is False


def test_custom_2fa_and_disabling_everything(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "cuz")
    seed = client.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "x", "label": "me"}).json[
        "seed"
    ]
    client.simulate_post(f"/api/users/{user_id}/2fa/totp/enable", json={"token": pyotp.TOTP(seed).now()})

    custom = client.simulate_put(f"/api/users/{user_id}/2fa/custom")
    custom_again = client.simulate_put(f"/api/users/{user_id}/2fa/custom")
    both = client.simulate_get(f"/api/users/{user_id}").json["enabled2fa"]
    off = client.simulate_delete(f"/api/users/{user_id}/2fa")
    after = client.simulate_get(f"/api/users/{user_id}").json["enabled2fa"]
    custom_off = client.simulate_delete(f"/api/users/{user_id}/2fa/custom")

    assert custom.json == {"success": True} and custom_again.json["code"] == "CustomEnabled"
    assert both == ["totp", "custom"]
    assert off.json == {"success": True} and after == []
    assert custom_off.json["code"] == "CustomDisabled"
    assert (
        client.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": "123456"}).json["code"]
        == "TotpDisabled"
    )


def test_application_passwords_sign_in_for_their_scopes(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "appy")

    created = client.simulate_post(
        f"/api/users/{user_id}/asps", json={"description": "Phone", "scopes": ["imap", "smtp"]}
    ).json
    password = created["password"]
    imap = login(client, "appy", password, scope="imap")
    spaced = login(client, "appy", " ".join(password[i : i + 4] for i in range(0, 16, 4)).upper(), scope="smtp")
    pop3 = login(client, "appy", password, scope="pop3")
    master = login(client, "appy", password)
    listed = client.simulate_get(f"/api/users/{user_id}/asps").json["results"]
    one = client.simulate_get(f"/api/users/{user_id}/asps/{created['id']}").json

    assert len(password) == 16 and password.isalpha() and password.islower()
    assert imap.status_code == 200 and imap.json == {
        "success": True,
        "id": user_id,
        "username": "appy",
        "scope": "imap",
        "require2fa": False,
    }
    assert spaced.status_code == 200
    assert (pop3.status_code, pop3.json["code"]) == (403, "InvalidAuthScope")
    assert master.status_code == 403  # application passwords never open the master scope
    assert [a["id"] for a in listed] == [created["id"]]
    assert one["scopes"] == ["imap", "smtp"] and one["lastUse"]["event"] and one["lastUse"]["time"]

    assert client.simulate_delete(f"/api/users/{user_id}/asps/{created['id']}").json == {"success": True}
    assert login(client, "appy", password, scope="imap").status_code == 403
    assert client.simulate_get(f"/api/users/{user_id}/asps/{created['id']}").json["code"] == "AspNotFound"


def test_a_chosen_asp_password_and_a_mobileconfig_profile(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "mac", name="Mac User")

    created = client.simulate_post(
        f"/api/users/{user_id}/asps",
        json={"description": "Mac Mail", "password": "a" * 16, "generateMobileconfig": True},
    ).json
    refused = client.simulate_post(
        f"/api/users/{user_id}/asps", json={"description": "x", "scopes": ["imap"], "generateMobileconfig": True}
    )
    bad_password = client.simulate_post(f"/api/users/{user_id}/asps", json={"description": "x", "password": "0" * 16})

    profile = plistlib.loads(base64.b64decode(created["mobileconfig"]))
    account = profile["PayloadContent"][0]
    assert created["password"] == "a" * 16 and created["address"] == "mac@example.com" and created["name"] == "Mac User"
    assert account["EmailAddress"] == "mac@example.com" and account["IncomingPassword"] == "a" * 16
    assert account["EmailAccountType"] == "EmailTypeIMAP"
    assert (refused.status_code, refused.json["code"]) == (400, "InvalidAuthScope")
    assert (bad_password.status_code, bad_password.json["code"]) == (400, "InputValidationError")
    assert login(client, "mac", "a" * 16, scope="imap").status_code == 200


def test_second_factor_routes_refuse_foreign_tokens_and_bad_input(client: falcon.testing.TestClient) -> None:
    create(client, "me2")
    theirs = create(client, "them2")
    token = login(client, "me2", "secretvalue", token=True).json["token"]
    as_me = {"X-Access-Token": token}
    nobody = "0" * 24
    for method, path, body in (
        ("POST", f"/api/users/{theirs}/2fa/totp/setup", {"issuer": "x"}),
        ("POST", f"/api/users/{theirs}/2fa/totp/enable", {"token": "123456"}),
        ("POST", f"/api/users/{theirs}/2fa/totp/check", {"token": "123456"}),
        ("DELETE", f"/api/users/{theirs}/2fa/totp", None),
        ("PUT", f"/api/users/{theirs}/2fa/custom", None),
        ("DELETE", f"/api/users/{theirs}/2fa/custom", None),
        ("DELETE", f"/api/users/{theirs}/2fa", None),
        ("GET", f"/api/users/{theirs}/asps", None),
        ("POST", f"/api/users/{theirs}/asps", {"description": "x"}),
        ("GET", f"/api/users/{theirs}/asps/{nobody}", None),
        ("DELETE", f"/api/users/{theirs}/asps/{nobody}", None),
    ):
        result = client.simulate_request(method, path, json=body, headers=as_me)
        assert (result.status_code, result.json["code"]) == (403, "MissingPrivileges"), (method, path)
    for method, path, body in (
        ("POST", f"/api/users/{theirs}/2fa/totp/setup", {}),
        ("POST", f"/api/users/{theirs}/2fa/totp/enable", {"token": "12345"}),
        ("POST", f"/api/users/{theirs}/asps", {"description": "x", "scopes": ["web"]}),
        ("POST", f"/api/users/{theirs}/asps", {}),
        ("GET", f"/api/users/{theirs}/asps/xyz", None),
    ):
        result = client.simulate_request(method, path, json=body)
        assert (result.status_code, result.json["code"]) == (400, "InputValidationError"), (method, path, result.text)
    assert client.simulate_get(f"/api/users/{nobody}/asps").json["code"] == "UserNotFound"


def test_put_user_disable2fa_removes_the_totp_seed(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "putoff")
    seed = client.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "x"}).json["seed"]
    client.simulate_post(f"/api/users/{user_id}/2fa/totp/enable", json={"token": pyotp.TOTP(seed).now()})

    client.simulate_put(f"/api/users/{user_id}", json={"disable2fa": True})
    check = client.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": pyotp.TOTP(seed).now()})

    assert client.simulate_get(f"/api/users/{user_id}").json["enabled2fa"] == []
    assert (check.status_code, check.json["code"]) == (400, "TotpDisabled")
    assert login(client, "putoff", "secretvalue").json["require2fa"] is False
