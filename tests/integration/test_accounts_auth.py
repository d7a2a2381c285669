"""Signing in as a WildDuck client does: passwords of every hash format, user tokens, preauth, authlog."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import argon2
import bcrypt
import falcon.testing
import pytest
from passlib.hash import des_crypt, md5_crypt, sha256_crypt, sha512_crypt
from sqlalchemy import select

from chainmail.config import Settings
from chainmail.domain.mail.passwords import hash_password
from chainmail.http.app import create_app
from chainmail.projections.users import users
from chainmail.system import System

from .conftest import ROOT_TOKEN


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(settings: Settings, clock: Clock) -> Iterator[falcon.testing.TestClient]:
    system = System(settings, clock=clock)
    yield falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
    system.close()


def create(client: falcon.testing.TestClient, username: str, password: str = "secretvalue", **fields: object) -> str:
    result = client.simulate_post("/api/users", json={"username": username, "password": password, **fields})
    assert result.status_code == 200, result.text
    return result.json["id"]


def login(client: falcon.testing.TestClient, username: str, password: str, **fields: object) -> falcon.testing.Result:
    return client.simulate_post("/api/authenticate", json={"username": username, "password": password, **fields})


def as_token(client: falcon.testing.TestClient, token: str) -> dict[str, str]:
    return {"X-Access-Token": token}


def test_a_password_signs_in_with_wildducks_exact_answer(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "alice", name="Alice")

    ok = login(client, "alice", "secretvalue")

    assert ok.status_code == 200
    assert ok.json == {
        "success": True,
        "id": user_id,
        "username": "alice",
        "address": "alice@example.com",
        "scope": "master",
        "require2fa": False,
        "requirePasswordChange": False,
    }


def test_an_address_and_its_dotted_or_labelled_forms_sign_in_too(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "bob.smith", address="bob.smith@example.org")

    for name in ("bob.smith@example.org", "BobSmith@Example.org", "bob.smith+tag@example.org", "bobsmith"):
        result = login(client, name, "secretvalue")
        assert (result.status_code, result.json.get("id")) == (200, user_id), name


def test_wrong_password_and_unknown_user_fail_with_403(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "carol")

    wrong = login(client, "carol", "nope")
    unknown = login(client, "nobody", "secretvalue")

    assert (wrong.status_code, wrong.json) == (
        403,
        {"error": "Authentication failed", "code": "AuthFailed", "id": user_id},
    )
    assert (unknown.status_code, unknown.json) == (403, {"error": "Authentication failed", "code": "AuthFailed"})


PREHASHED = {
    "bcrypt": lambda p: bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode(),
    "bcrypt-2y": lambda p: "$2y$" + bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()[4:],
    "pbkdf2-sha512": None,
    "argon2id": lambda p: argon2.PasswordHasher(time_cost=1, memory_cost=1024).hash(p),
    "argon2i": lambda p: argon2.PasswordHasher(time_cost=1, memory_cost=1024, type=argon2.Type.I).hash(p),
    "md5-crypt": lambda p: md5_crypt.hash(p),
    "sha256-crypt": lambda p: sha256_crypt.using(rounds=1000).hash(p),
    "sha512-crypt": lambda p: sha512_crypt.using(rounds=1000).hash(p),
    "des-crypt": lambda p: des_crypt.hash(p),
}


def _pbkdf2_sha512(password: str) -> str:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 1000, 64)
    b64 = lambda raw: base64.b64encode(raw).decode().rstrip("=")  # noqa: E731
    return f"$pbkdf2-sha512$i=1000${b64(salt)}${b64(digest)}"


@pytest.mark.parametrize("scheme", sorted(PREHASHED))
def test_every_prehashed_password_format_signs_in(
    client: falcon.testing.TestClient, system: System, scheme: str
) -> None:
    make = PREHASHED[scheme] or _pbkdf2_sha512
    password = "hunter22"  # DES crypt reads only 8 characters
    user_id = create(client, "hashed", password=make(password), hashedPassword=True)

    ok = login(client, "hashed", password)
    wrong = login(client, "hashed", "hunter23")

    assert (ok.status_code, ok.json["id"]) == (200, user_id)
    assert wrong.status_code == 403
    with system.engine.connect() as conn:  # a legacy hash is upgraded to the default format at sign-in
        stored = conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar_one()
    assert stored.startswith("$pbkdf2-sha256$")
    assert login(client, "hashed", password).status_code == 200


def test_a_user_token_works_everywhere_and_me_means_its_user(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "dave")

    token = login(client, "dave", "secretvalue", token=True).json["token"]
    me = client.simulate_get("/api/users/me", headers=as_token(client, token))

    assert len(token) == 40 and all(c in "0123456789abcdef" for c in token)
    assert (me.status_code, me.json["id"]) == (200, user_id)


def test_a_token_needs_the_master_scope(client: falcon.testing.TestClient) -> None:
    create(client, "erin")

    result = login(client, "erin", "secretvalue", token=True, scope="imap")

    assert result.status_code == 400
    assert result.json["code"] == "InputValidationError"
    assert result.json["details"] == {"scope": '"scope" must be [master]'}


def test_delete_authenticate_ends_the_session(client: falcon.testing.TestClient) -> None:
    create(client, "frank")
    token = login(client, "frank", "secretvalue", token=True).json["token"]

    bye = client.simulate_delete("/api/authenticate", headers=as_token(client, token))
    after = client.simulate_get("/api/users/me", headers=as_token(client, token))
    as_root = client.simulate_delete("/api/authenticate")

    assert bye.json == {"success": True}
    assert (after.status_code, after.json) == (403, {"code": "InvalidToken", "message": "Invalid accessToken value"})
    assert as_root.json == {"success": True}


def test_tokens_slide_with_use_and_die_when_idle_or_too_old(timed: falcon.testing.TestClient, clock: Clock) -> None:
    create(timed, "gina")
    token = login(timed, "gina", "secretvalue", token=True).json["token"]
    idle = login(timed, "gina", "secretvalue", token=True).json["token"]

    # Used every 10 days, the token outlives its 14-day TTL; the unused one does not.
    for _ in range(3):
        clock.advance(days=10)
        assert timed.simulate_get("/api/users/me", headers=as_token(timed, token)).status_code == 200
    assert timed.simulate_get("/api/users/me", headers=as_token(timed, idle)).status_code == 403

    # ...but no token lives beyond 180 days, however busy.
    for _ in range(15):
        clock.advance(days=10)
        timed.simulate_get("/api/users/me", headers=as_token(timed, token))
    assert timed.simulate_get("/api/users/me", headers=as_token(timed, token)).status_code == 403


def test_a_token_of_a_deleted_user_stops_working(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "hank")
    token = login(client, "hank", "secretvalue", token=True).json["token"]

    client.simulate_delete(f"/api/users/{user_id}")

    assert client.simulate_get("/api/users/me", headers=as_token(client, token)).status_code == 403


def test_preauth_answers_without_a_password(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "ivy")

    ok = client.simulate_post("/api/preauth", json={"username": "ivy@example.com"})
    unknown = client.simulate_post("/api/preauth", json={"username": "nobody"})

    assert ok.json == {
        "success": True,
        "id": user_id,
        "username": "ivy",
        "address": "ivy@example.com",
        "scope": "master",
        "require2fa": False,
    }
    assert (unknown.status_code, unknown.json["code"]) == (403, "AuthFailed")


def test_every_attempt_lands_in_the_authlog_merged_like_wildduck(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "jack")
    login(client, "jack", "secretvalue", ip="10.0.0.1", sess="s1")
    login(client, "jack", "secretvalue", ip="10.0.0.1", sess="s2")
    login(client, "jack", "bad", ip="10.0.0.2")

    log = client.simulate_get(f"/api/users/{user_id}/authlog")
    only_ip = client.simulate_get(f"/api/users/{user_id}/authlog", params={"filterip": "10.0.0.2"})

    assert log.status_code == 200, log.text
    assert log.json["total"] == 2 and log.json["page"] == 1 and log.json["nextCursor"] is False
    failure, success = log.json["results"]  # newest first
    assert (failure["result"], failure["ip"], failure["events"], failure["source"]) == ("fail", "10.0.0.2", 1, "master")
    assert (success["result"], success["events"], success["sess"]) == ("success", 2, "s1")
    assert success["action"] == "authentication" and success["protocol"] == "API"
    assert success["requiredScope"] == "master"
    assert {"created", "last", "expires"} <= set(success)
    assert [r["id"] for r in only_ip.json["results"]] == [failure["id"]]

    one = client.simulate_get(f"/api/users/{user_id}/authlog/{success['id']}")
    missing = client.simulate_get(f"/api/users/{user_id}/authlog/{'0' * 24}")
    assert one.json == {"success": True, **success}
    assert (missing.status_code, missing.json["code"]) == (404, "EventNotFound")


def test_authlog_pages_with_cursors(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "kate")
    for n in range(3):
        login(client, "kate", "secretvalue", ip=f"10.0.1.{n}")

    first = client.simulate_get(f"/api/users/{user_id}/authlog", params={"limit": 2})
    second = client.simulate_get(f"/api/users/{user_id}/authlog", params={"limit": 2, "next": first.json["nextCursor"]})

    assert [r["ip"] for r in first.json["results"]] == ["10.0.1.2", "10.0.1.1"]
    assert [r["ip"] for r in second.json["results"]] == ["10.0.1.0"]
    assert second.json["page"] == 2 and second.json["nextCursor"] is False


def test_bad_input_is_a_400_never_a_500(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "leo")
    cases = [
        ("post", "/api/authenticate", {"username": "leo"}),
        ("post", "/api/authenticate", {"username": "ö bad", "password": "x"}),
        ("post", "/api/authenticate", {"username": "leo", "password": "x" * 257}),
        ("post", "/api/authenticate", {"username": "leo", "password": "x", "token": "maybe"}),
        ("post", "/api/authenticate", {"username": "leo", "password": "x", "appId": "not a uri"}),
        ("post", "/api/authenticate", {"username": "leo", "password": "x", "unknown": 1}),
        ("post", "/api/authenticate", {"username": ["leo"], "password": {"a": 1}}),
        ("post", "/api/preauth", {"username": ""}),
        ("get", f"/api/users/{user_id}/authlog", {"limit": 0}),
        ("get", f"/api/users/{user_id}/authlog", {"filterip": "10.0.0.0/8"}),
        ("get", f"/api/users/{user_id}/authlog", {"next": "!!"}),
        ("get", "/api/users/123/authlog", {}),
        ("get", f"/api/users/{user_id}/authlog/xyz", {}),
    ]
    for method, path, params in cases:
        if method == "post":
            result = client.simulate_post(path, json=params)
        else:
            result = client.simulate_get(path, params=params)
        assert result.status_code == 400, (path, params, result.text)
        assert result.json["code"] == "InputValidationError"
    unknown_user = client.simulate_get(f"/api/users/{'0' * 24}/authlog")
    assert (unknown_user.status_code, unknown_user.json["code"]) == (404, "UserNotFound")


def test_disabled_scopes_and_temporary_passwords(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "mia", disabledScopes=["imap"])

    imap = login(client, "mia", "secretvalue", scope="imap")
    reset = client.simulate_post(f"/api/users/{user_id}/password/reset")
    temporary = login(client, "mia", reset.json["password"])
    master = login(client, "mia", "secretvalue")

    assert (imap.status_code, imap.json["code"]) == (403, "InvalidAuthScope")
    assert reset.status_code == 200 and len(reset.json["password"]) == 12
    assert temporary.status_code == 200 and temporary.json["requirePasswordChange"] is True
    assert master.status_code == 200 and master.json["requirePasswordChange"] is False


def test_a_temporary_password_waits_for_valid_after(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "ned")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    reset = client.simulate_post(f"/api/users/{user_id}/password/reset", json={"validAfter": later})
    early = login(client, "ned", reset.json["password"])

    assert (early.status_code, early.json["code"]) == (403, "TempPasswordNotYetValid")


def test_no_password_is_ever_stored_in_clear(client: falcon.testing.TestClient, system: System) -> None:
    from sqlalchemy import text

    user_id = create(client, "olga", password="very-secret-value-1")
    login(client, "olga", "very-secret-value-1", token=True)
    login(client, "olga", "wrong-secret-value-2")
    client.simulate_put(f"/api/users/{user_id}", json={"password": "very-secret-value-3"})
    reset = client.simulate_post(f"/api/users/{user_id}/password/reset").json["password"]

    with system.engine.connect() as conn:
        tables = (
            [
                r[0]
                for r in conn.execute(
                    text("SELECT table_name FROM information_schema.tables WHERE table_schema='public'")
                )
            ]
            if system.settings.is_postgres
            else [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
        )
        dump = ""
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                dump += repr(tuple(row))
    for secret in ("very-secret-value-1", "wrong-secret-value-2", "very-secret-value-3", reset):
        assert secret not in dump
    assert hash_password  # the default format is PBKDF2 (checked in the unit tests of passwords)


def test_too_many_failures_rate_limit_the_account_for_its_window(
    timed: falcon.testing.TestClient, clock: Clock
) -> None:
    user_id = create(timed, "guessme")
    clock.now = clock.now.replace(second=0, microsecond=0)  # the start of a 120-second window

    failures = [login(timed, "guessme", f"guess-{n}").json["code"] for n in range(12)]
    limited = login(timed, "guessme", "secretvalue")
    clock.advance(seconds=120)
    allowed = login(timed, "guessme", "secretvalue")

    assert failures == ["AuthFailed"] * 12
    assert (limited.status_code, limited.json) == (
        403,
        {"error": "Authentication was rate limited", "code": "RateLimitedError", "id": user_id},
    )
    assert allowed.status_code == 200


def test_a_success_releases_the_failure_count(timed: falcon.testing.TestClient, clock: Clock) -> None:
    create(timed, "forgetful")
    clock.now = clock.now.replace(second=0, microsecond=0)

    for n in range(11):
        login(timed, "forgetful", f"guess-{n}")
    login(timed, "forgetful", "secretvalue")
    for n in range(11):
        login(timed, "forgetful", f"again-{n}")

    assert login(timed, "forgetful", "secretvalue").status_code == 200


def test_unicode_and_punycode_domains_sign_in_as_the_same_address(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "idn", address="idn@jõgeva.öö")

    unicode_login = login(client, "idn@JÕGEVA.öö", "secretvalue")
    punycode_login = login(client, "idn@" + "jõgeva.öö".encode("idna").decode(), "secretvalue")

    assert unicode_login.status_code == 200 and unicode_login.json["id"] == user_id
    assert punycode_login.status_code == 200 and punycode_login.json["address"] == "idn@jõgeva.öö"
