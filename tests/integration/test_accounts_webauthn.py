"""WebAuthn ceremonies against the WildDuck routes, driven by a software authenticator (P-256, `none`)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

import cbor2
import falcon.testing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from .test_accounts_auth import create, login

ORIGIN = "https://mail.example.com"
RP_ID = "mail.example.com"


class SoftwareAuthenticator:
    """A FIDO2 authenticator in software: one P-256 credential, `none` attestation, a sign counter."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.counter = 0

    def _client_data(self, kind: str, challenge_hex: str, origin: str) -> bytes:
        challenge = base64.urlsafe_b64encode(bytes.fromhex(challenge_hex)).decode().rstrip("=")
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def _auth_data(self, rp_id: str, flags: int, extra: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.counter) + extra

    def register(self, challenge_hex: str, rp_id: str = RP_ID, origin: str = ORIGIN) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose
        auth_data = self._auth_data(rp_id, 0x41, attested)  # user present, attested credential data
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "challenge": challenge_hex,
            "rawId": self.credential_id.hex(),
            "clientDataJSON": self._client_data("webauthn.create", challenge_hex, origin).hex(),
            "attestationObject": attestation.hex(),
        }

    def assert_(self, challenge_hex: str, rp_id: str = RP_ID, origin: str = ORIGIN) -> dict[str, str]:
        self.counter += 1
        client_data = self._client_data("webauthn.get", challenge_hex, origin)
        auth_data = self._auth_data(rp_id, 0x01)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "challenge": challenge_hex,
            "rawId": self.credential_id.hex(),
            "clientDataJSON": client_data.hex(),
            "authenticatorData": auth_data.hex(),
            "signature": signature.hex(),
        }


def register(client: falcon.testing.TestClient, user_id: str, authenticator: SoftwareAuthenticator) -> dict:
    options = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/registration-challenge",
        json={"description": "My key", "origin": ORIGIN, "rpId": RP_ID},
    ).json["registrationOptions"]
    return client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/registration-attestation",
        json={**authenticator.register(options["challenge"]), "rpId": RP_ID},
    ).json


def challenge(client: falcon.testing.TestClient, user_id: str) -> str:
    return client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-challenge", json={"origin": ORIGIN, "rpId": RP_ID}
    ).json["authenticationOptions"]["challenge"]


def test_a_security_key_registers_and_authenticates(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "fido")
    key = SoftwareAuthenticator()

    options = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/registration-challenge",
        json={"description": "My key", "origin": ORIGIN, "rpId": RP_ID},
    ).json["registrationOptions"]
    registered = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/registration-attestation",
        json={**key.register(options["challenge"]), "rpId": RP_ID},
    )
    replayed = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/registration-attestation",
        json={**key.register(options["challenge"]), "rpId": RP_ID},
    )
    listed = client.simulate_get(f"/api/users/{user_id}/2fa/webauthn/credentials").json

    assert options["user"] == {"id": user_id, "name": "fido@example.com", "displayName": "fido"}
    assert options["rp"]["id"] == RP_ID and len(options["challenge"]) == 128
    assert registered.status_code == 200, registered.text
    credential = registered.json
    assert credential == {
        "success": True,
        "id": credential["id"],
        "rawId": key.credential_id.hex(),
        "description": "My key",
        "authenticatorAttachment": "cross-platform",
    }
    assert (replayed.status_code, replayed.json["code"]) == (404, "ChallengeNotFound")
    assert listed["credentials"] == [{k: v for k, v in credential.items() if k != "success"}]
    assert login(client, "fido", "secretvalue").json["require2fa"] == ["webauthn"]

    asserted = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-assertion",
        json={**key.assert_(challenge(client, user_id)), "rpId": RP_ID, "token": True},
    )
    assert asserted.status_code == 200, asserted.text
    assert asserted.json["response"] == {"authenticated": True, "credential": credential["id"]}
    me = client.simulate_get("/api/users/me", headers={"X-Access-Token": asserted.json["token"]})
    assert me.json["id"] == user_id

    second = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-assertion",
        json={**key.assert_(challenge(client, user_id)), "rpId": RP_ID},
    )
    assert second.status_code == 200 and "token" not in second.json


def test_a_forged_or_foreign_assertion_is_refused(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "fido2")
    key = SoftwareAuthenticator()
    register(client, user_id, key)
    impostor = SoftwareAuthenticator()
    impostor.credential_id = key.credential_id  # same id, different private key

    forged = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-assertion",
        json={**impostor.assert_(challenge(client, user_id)), "rpId": RP_ID},
    )
    wrong_origin = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-assertion",
        json={**key.assert_(challenge(client, user_id), origin="https://evil.example.org"), "rpId": RP_ID},
    )
    unknown = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-assertion",
        json={**SoftwareAuthenticator().assert_(challenge(client, user_id)), "rpId": RP_ID},
    )

    assert (forged.status_code, forged.json["code"]) == (400, "InvalidAssertion")
    assert (wrong_origin.status_code, wrong_origin.json["code"]) == (400, "InvalidAssertion")
    assert (unknown.status_code, unknown.json["code"]) == (404, "CredentialsNotFound")


def test_removing_the_last_key_turns_webauthn_off(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "fido3")
    credential = register(client, user_id, SoftwareAuthenticator())

    removed = client.simulate_delete(f"/api/users/{user_id}/2fa/webauthn/credentials/{credential['id']}").json
    again = client.simulate_delete(f"/api/users/{user_id}/2fa/webauthn/credentials/{credential['id']}").json
    options = client.simulate_post(
        f"/api/users/{user_id}/2fa/webauthn/authentication-challenge", json={"origin": ORIGIN}
    )

    assert removed == {"success": True, "deleted": True} and again == {"success": True, "deleted": False}
    assert client.simulate_get(f"/api/users/{user_id}").json["enabled2fa"] == []
    assert (options.status_code, options.json["code"]) == (400, "WebAuthnDisabled")


def test_webauthn_routes_refuse_foreign_tokens_and_bad_input(client: falcon.testing.TestClient) -> None:
    create(client, "fido4")
    theirs = create(client, "fido5")
    token = login(client, "fido4", "secretvalue", token=True).json["token"]
    as_me = {"X-Access-Token": token}
    base = f"/api/users/{theirs}/2fa/webauthn"
    hexes = {"challenge": "00", "rawId": "00", "clientDataJSON": "00"}
    for method, path, body in (
        ("GET", base + "/credentials", None),
        ("DELETE", base + f"/credentials/{'0' * 24}", None),
        ("POST", base + "/registration-challenge", {"description": "x", "origin": ORIGIN}),
        ("POST", base + "/registration-attestation", {**hexes, "attestationObject": "00"}),
        ("POST", base + "/authentication-challenge", {"origin": ORIGIN}),
        ("POST", base + "/authentication-assertion", {**hexes, "authenticatorData": "00", "signature": "00"}),
    ):
        result = client.simulate_request(method, path, json=body, headers=as_me)
        assert (result.status_code, result.json["code"]) == (403, "MissingPrivileges"), (method, path)
    for path, body in (
        (base + "/registration-challenge", {"description": "x", "origin": "not a uri"}),
        (base + "/registration-challenge", {"description": "x", "origin": ORIGIN, "authenticatorAttachment": "usb"}),
        (base + "/registration-attestation", {**hexes, "attestationObject": "zz"}),
        (base + "/authentication-assertion", {**hexes, "authenticatorData": "00", "signature": "0"}),
    ):
        result = client.simulate_post(path, json=body)
        assert (result.status_code, result.json["code"]) == (400, "InputValidationError"), (path, result.text)
    garbage = client.simulate_post(
        f"/api/users/{theirs}/2fa/webauthn/registration-attestation", json={**hexes, "attestationObject": "00"}
    )
    assert (garbage.status_code, garbage.json["code"]) == (404, "ChallengeNotFound")
