"""Administration through the WildDuck API: settings, domain aliases, domain access, webhooks, DKIM, certs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import dkim
import falcon.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from .test_accounts_auth import create, login


def test_settings_list_set_and_read(client: falcon.testing.TestClient) -> None:
    before = client.simulate_get("/api/settings", params={"filter": "authlog"}).json
    changed = client.simulate_post("/api/settings/const:max:storage", json={"value": "2048"})
    after = client.simulate_get("/api/settings/const:max:storage").json
    listed = {s["key"]: s for s in client.simulate_get("/api/settings").json["settings"]}
    unknown_key = client.simulate_post("/api/settings/const:nope", json={"value": 1})
    not_a_number = client.simulate_post("/api/settings/const:max:filters", json={"value": "many"})
    defer = client.simulate_post("/api/settings/const:sender:defer_times", json={"value": "5m, 1h"})

    assert before["filter"] == "authlog" and [s["key"] for s in before["settings"]] == ["const:authlog:time"]
    assert before["settings"][0]["value"] == 30 * 24 * 3600 * 1000 and before["settings"][0]["custom"] is False
    assert changed.json == {"success": True, "key": "const:max:storage"}
    assert after == {"success": True, "key": "const:max:storage", "value": 2048}
    assert listed["const:max:storage"]["custom"] is True and listed["const:max:storage"]["value"] == 2048
    assert list(listed) == sorted(listed)
    assert unknown_key.status_code == 400 and unknown_key.json["code"] == "InputValidationError"
    assert not_a_number.status_code == 400 and not_a_number.json["code"] == "InputValidationError"
    assert defer.status_code == 200
    user_id = create(client, "limited")
    client.simulate_post("/api/settings/const:max:filters", json={"value": 7})
    limits = client.simulate_get(f"/api/users/{user_id}").json["limits"]
    assert limits["quota"]["allowed"] == 2048 and limits["filters"]["allowed"] == 7  # the settings are the defaults


def test_domain_aliases_sign_in_and_resolve(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "ali", address="ali@example.org")

    created = client.simulate_post("/api/domainaliases", json={"alias": "Example.NET", "domain": "example.org"})
    again = client.simulate_post("/api/domainaliases", json={"alias": "example.net", "domain": "example.org"})
    alias_id = created.json["id"]
    got = client.simulate_get(f"/api/domainaliases/{alias_id}").json
    resolved = client.simulate_get("/api/domainaliases/resolve/example.net").json
    listed = client.simulate_get("/api/domainaliases").json
    via_alias = login(client, "ali@example.net", "secretvalue")

    assert (again.status_code, again.json["code"]) == (400, "AliasExists")
    assert (got["alias"], got["domain"]) == ("example.net", "example.org") and "created" in got
    assert resolved == {"success": True, "id": alias_id}
    assert listed["total"] == 1 and listed["results"] == [
        {"id": alias_id, "alias": "example.net", "domain": "example.org"}
    ]
    assert via_alias.status_code == 200 and via_alias.json["id"] == user_id
    resolved_address = client.simulate_get("/api/addresses/resolve/ali@example.net").json
    assert resolved_address["user"] == user_id and resolved_address["address"] == "ali@example.org"

    assert client.simulate_delete(f"/api/domainaliases/{alias_id}").json == {"success": True}
    assert login(client, "ali@example.net", "secretvalue").status_code == 403
    missing = client.simulate_get(f"/api/domainaliases/{alias_id}")
    assert (missing.status_code, missing.json["code"]) == (404, "AliasNotFound")


def test_domain_access_lists_upsert_per_tag_and_domain(client: falcon.testing.TestClient) -> None:
    allowed = client.simulate_post("/api/domainaccess/Partners/allow", json={"domain": "good.example.org"}).json
    moved = client.simulate_post("/api/domainaccess/partners/block", json={"domain": "good.example.org"}).json
    client.simulate_post("/api/domainaccess/partners/block", json={"domain": "bad.example.org"})

    allow_list = client.simulate_get("/api/domainaccess/partners/allow").json
    block_list = client.simulate_get("/api/domainaccess/PARTNERS/block").json
    deleted = client.simulate_delete(f"/api/domainaccess/{allowed['id']}").json
    gone = client.simulate_delete(f"/api/domainaccess/{allowed['id']}")

    assert moved["id"] == allowed["id"]
    assert allow_list == {"success": True, "results": []}
    assert [(r["domain"], r["action"]) for r in block_list["results"]] == [
        ("bad.example.org", "block"),
        ("good.example.org", "block"),
    ]
    assert deleted == {"success": True, "deleted": allowed["id"]}
    assert (gone.status_code, gone.json["code"]) == (404, "DomainNotFound")


def test_webhooks_register_list_and_delete(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "hook")
    mine = client.simulate_post(
        "/api/webhooks", json={"type": ["MESSAGENEW"], "user": user_id, "url": "https://hooks.example.org/a"}
    ).json
    client.simulate_post("/api/webhooks", json={"type": ["*"], "url": "https://hooks.example.org/all"})
    client.simulate_post("/api/webhooks", json={"type": ["user.created"], "url": "smtp://relay.example.org"})

    for_type = client.simulate_get("/api/webhooks", params={"type": "messagenew"}).json
    token = login(client, "hook", "secretvalue", token=True).json["token"]
    as_user = client.simulate_get("/api/webhooks", headers={"X-Access-Token": token}).json
    bad_url = client.simulate_post("/api/webhooks", json={"type": ["x"], "url": "ftp://x.example.org"})
    unknown_user = client.simulate_post(
        "/api/webhooks", json={"type": ["x"], "user": "0" * 24, "url": "https://x.example.org"}
    )

    assert for_type["total"] == 2
    assert for_type["results"][0] == {
        "id": mine["id"],
        "type": ["messagenew"],
        "user": user_id,
        "url": "https://hooks.example.org/a",
    }
    assert [w["url"] for w in as_user["results"]] == ["https://hooks.example.org/a"]  # own webhooks only
    assert bad_url.status_code == 400
    assert (unknown_user.status_code, unknown_user.json["code"]) == (404, "UserNotFound")
    assert client.simulate_delete(f"/api/webhooks/{mine['id']}").json == {"success": True}
    assert client.simulate_delete(f"/api/webhooks/{mine['id']}").json["code"] == "WebhookNotFound"


MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello DKIM.\r\n"


def _sign_and_verify(private_key: bytes, dns_value: str, algorithm: bytes = b"rsa-sha256") -> bool:
    signed = dkim.sign(MESSAGE, b"wildduck", b"example.com", private_key, signature_algorithm=algorithm)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"wildduck._domainkey.example.com."
        return dns_value.encode()

    return dkim.verify(signed + MESSAGE, dnsfunc=dns)


def test_dkim_keys_upsert_per_domain_and_sign(client: falcon.testing.TestClient) -> None:
    ids = []
    for _ in range(3):
        result = client.simulate_post("/api/dkim", json={"domain": "example.com", "selector": "wildduck"})
        assert result.status_code == 200, result.text
        ids.append(result.json["id"])
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    imported = client.simulate_post(
        "/api/dkim",
        json={"domain": "example.com", "selector": "wildduck", "privateKey": pem.decode(), "description": "mine"},
    ).json

    listed = client.simulate_get("/api/dkim").json
    resolved = client.simulate_get("/api/dkim/resolve/example.com").json
    got = client.simulate_get(f"/api/dkim/{imported['id']}").json

    assert len(set(ids)) == 1 and imported["id"] == ids[0]
    assert listed["total"] == 1 and resolved["id"] == imported["id"]
    assert imported["dnsTxt"]["name"] == "wildduck._domainkey.example.com"
    assert imported["dnsTxt"]["value"].startswith("v=DKIM1;t=s;p=")
    assert imported["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(imported["fingerprint"].split(":")) == 32
    assert got["description"] == "mine" and got["dnsTxt"] == imported["dnsTxt"] and "created" in got
    assert _sign_and_verify(pem, imported["dnsTxt"]["value"])

    assert client.simulate_delete(f"/api/dkim/{got['id']}").json == {"success": True}
    assert client.simulate_get("/api/dkim/resolve/example.com").json["code"] == "DkimNotFound"


def test_dkim_accepts_raw_ed25519_keys(client: falcon.testing.TestClient) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())

    result = client.simulate_post(
        "/api/dkim",
        json={"domain": "example.com", "selector": "wildduck", "privateKey": base64.b64encode(seed).decode()},
    ).json

    raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert result["dnsTxt"]["value"] == "v=DKIM1;t=s;p=" + base64.b64encode(raw_public).decode()
    dns_value = "v=DKIM1;k=ed25519;p=" + base64.b64encode(raw_public).decode()
    assert _sign_and_verify(base64.b64encode(seed), dns_value, b"ed25519-sha256")


def _certificate(names: list[str], expired: bool = False) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    not_after = now - timedelta(days=1) if expired else now + timedelta(days=90)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=100))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_certificates_upsert_per_servername(client: falcon.testing.TestClient) -> None:
    key, cert = _certificate(["mail.example.com", "imap.example.com"], expired=True)
    first = client.simulate_post("/api/certs", json={"servername": "mail.example.com", "privateKey": key, "cert": cert})
    key2, cert2 = _certificate(["mail.example.com"])
    second = client.simulate_post(
        "/api/certs", json={"servername": "mail.example.com", "privateKey": key2, "cert": cert2, "description": "new"}
    )
    _, other_cert = _certificate(["mail.example.com"])
    mismatch = client.simulate_post(
        "/api/certs", json={"servername": "x.example.com", "privateKey": key, "cert": other_cert}
    )
    missing_key = client.simulate_post("/api/certs", json={"servername": "x.example.com", "cert": cert})

    assert first.status_code == 200, first.text
    assert first.json["altNames"] == ["mail.example.com", "imap.example.com"]
    assert first.json["expires"] < datetime.now(UTC).isoformat()  # expired certificates are accepted
    assert second.json["id"] == first.json["id"] and second.json["description"] == "new"
    assert second.json["fingerprint"] != first.json["fingerprint"]
    assert mismatch.status_code == 400 and missing_key.status_code == 400
    assert missing_key.json["details"] == {"privateKey": '"privateKey" is required'}

    listed = client.simulate_get("/api/certs", params={"query": "imap", "altNames": "true"}).json
    got = client.simulate_get(f"/api/certs/{first.json['id']}").json
    resolved = client.simulate_get("/api/certs/resolve/mail.example.com").json
    assert listed["total"] == 0  # the replacement only names mail.example.com
    assert got["hasCert"] is True and got["altNames"] == ["mail.example.com"] and got["acme"] is False
    assert resolved == {"success": True, "id": first.json["id"]}
    assert client.simulate_delete(f"/api/certs/{got['id']}").json == {"success": True}
    assert client.simulate_get(f"/api/certs/{got['id']}").json["code"] == "CertNotFound"


def test_user_tokens_cannot_administer(client: falcon.testing.TestClient) -> None:
    create(client, "plain")
    token = login(client, "plain", "secretvalue", token=True).json["token"]
    as_user = {"X-Access-Token": token}
    nobody = "0" * 24
    for method, path, body in (
        ("GET", "/api/settings", None),
        ("POST", "/api/settings/const:max:storage", {"value": 1}),
        ("GET", "/api/settings/const:max:storage", None),
        ("GET", "/api/domainaliases", None),
        ("POST", "/api/domainaliases", {"alias": "a.org", "domain": "b.org"}),
        ("GET", "/api/domainaliases/resolve/a.org", None),
        ("GET", f"/api/domainaliases/{nobody}", None),
        ("DELETE", f"/api/domainaliases/{nobody}", None),
        ("POST", "/api/domainaccess/t/allow", {"domain": "a.org"}),
        ("GET", "/api/domainaccess/t/block", None),
        ("DELETE", f"/api/domainaccess/{nobody}", None),
        ("POST", "/api/webhooks", {"type": ["x"], "url": "https://x.example.org"}),
        ("GET", "/api/dkim", None),
        ("POST", "/api/dkim", {"domain": "a.org", "selector": "s"}),
        ("GET", "/api/dkim/resolve/a.org", None),
        ("GET", f"/api/dkim/{nobody}", None),
        ("DELETE", f"/api/dkim/{nobody}", None),
        ("GET", "/api/certs", None),
        ("POST", "/api/certs", {"servername": "a.org", "acme": True}),
        ("GET", "/api/certs/resolve/a.org", None),
        ("GET", f"/api/certs/{nobody}", None),
        ("DELETE", f"/api/certs/{nobody}", None),
    ):
        result = client.simulate_request(method, path, json=body, headers=as_user)
        assert (result.status_code, result.json.get("code")) == (403, "MissingPrivileges"), (method, path, result.text)


def test_bad_admin_input_is_400(client: falcon.testing.TestClient) -> None:
    for method, path, body in (
        ("POST", "/api/domainaliases", {"alias": "", "domain": "b.org"}),
        ("POST", "/api/domainaliases", {"alias": "a.org"}),
        ("GET", "/api/domainaliases/xyz", None),
        ("POST", "/api/domainaccess/t/allow", {}),
        ("POST", "/api/webhooks", {"url": "https://x.example.org"}),
        ("POST", "/api/dkim", {"domain": "a.org"}),
        ("POST", "/api/dkim", {"domain": "a.org", "selector": "s", "privateKey": "not a key"}),
        (
            "POST",
            "/api/dkim",
            {"domain": "a.org", "selector": "s", "privateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n"},
        ),
        ("POST", "/api/certs", {"servername": "not a host!", "acme": True}),
        ("POST", "/api/certs", {"servername": "a.org", "cert": "junk", "privateKey": "junk"}),
        ("GET", "/api/certs", {"limit": 0}),
        ("POST", "/api/settings/const:max:storage", {}),
    ):
        result = client.simulate_request(method, path, json=body) if body is not None else client.simulate_get(path)
        assert result.status_code == 400, (method, path, body, result.text)
        assert result.json["code"] == "InputValidationError"


def test_the_authlog_time_setting_sets_how_long_entries_are_kept(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "logged")
    client.simulate_post("/api/settings/const:authlog:time", json={"value": 3600 * 1000})

    login(client, "logged", "secretvalue")
    entry = client.simulate_get(f"/api/users/{user_id}/authlog").json["results"][0]

    created = datetime.fromisoformat(entry["created"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(entry["expires"].replace("Z", "+00:00"))
    assert expires - created == timedelta(hours=1)
