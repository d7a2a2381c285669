"""With `CHAINMAIL_SECRET` set, TOTP seeds and DKIM/TLS private keys are sealed in the events and the read
models (nothing of them readable in any table), and TOTP checks, DKIM signing and TLS serving still work."""

from __future__ import annotations

from collections.abc import Iterator

import dkim
import falcon.testing
import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import inspect, text

from chainmail.config import Settings
from chainmail.domain.mail.sealing import Sealer, SealError
from chainmail.http.app import create_app
from chainmail.projections import keys as keys_model
from chainmail.system import System

from .conftest import ROOT_TOKEN
from .test_accounts_admin import MESSAGE, _certificate

SECRET = "a long configured secret for sealing"


def _dump(system: System) -> str:
    """Every row of every table (events included), as text."""
    dump = []
    with system.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    dump.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return "\n".join(dump)


def _pem_fragments(pem: str) -> list[str]:
    """Pieces of a PEM body that any copy of the key would contain: from its end, where the private
    numbers are (its start holds the modulus, which the public key shows anyway)."""
    lines = [line for line in pem.strip().splitlines() if not line.startswith("-----")]
    return [lines[-3][8:40], lines[-2][4:30]]


@pytest.fixture(params=[SECRET, None], ids=["sealed", "clear"])
def secret(request: pytest.FixtureRequest) -> str | None:
    return request.param


@pytest.fixture
def sealed_system(database_url: str, secret: str | None) -> Iterator[System]:
    system = System(
        Settings(database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com", secret=secret)
    )
    yield system
    system.close()


def test_secrets_are_sealed_at_rest_and_still_work(sealed_system: System, secret: str | None) -> None:
    client = falcon.testing.TestClient(create_app(sealed_system), headers={"X-Access-Token": ROOT_TOKEN})
    user_id = client.simulate_post("/api/users", json={"username": "sealed", "password": "secretvalue"}).json["id"]
    seed = client.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "test"}).json["seed"]
    totp = pyotp.TOTP(seed)
    enabled = client.simulate_post(f"/api/users/{user_id}/2fa/totp/enable", json={"token": totp.now()})
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        .decode()
    )
    dkim_key = client.simulate_post(
        "/api/dkim", json={"domain": "example.com", "selector": "wildduck", "privateKey": rsa_pem}
    ).json
    tls_key, tls_cert = _certificate(["mail.example.com"])
    cert = client.simulate_post(
        "/api/certs", json={"servername": "mail.example.com", "privateKey": tls_key, "cert": tls_cert}
    )

    with sealed_system.engine.connect() as conn:
        signing = keys_model.dkim_signing_key(conn, "example.com", sealed_system.mail.sealer)
        served = keys_model.tls_credentials(conn, "mail.example.com", sealed_system.mail.sealer)
    assert signing is not None and served is not None
    signed = dkim.sign(MESSAGE, b"wildduck", b"example.com", signing["private_key"].encode())
    dns_value = dkim_key["dnsTxt"]["value"].encode()
    dump = _dump(sealed_system)
    exposed = [piece for piece in [seed, *_pem_fragments(rsa_pem), *_pem_fragments(tls_key)] if piece in dump]

    assert enabled.json == {"success": True}
    checked = client.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": totp.now()})
    assert checked.json == {"success": True}
    assert cert.status_code == 200 and served == (tls_cert.strip() + "\n", tls_key)
    assert signing["private_key"] == rsa_pem.strip()
    assert dkim.verify(signed + MESSAGE, dnsfunc=lambda name, timeout=5: dns_value)
    if secret is None:  # the control: without a secret the same search finds every one of them
        assert len(exposed) == 5
    else:
        assert exposed == []
        assert "$aesgcm$totp$" in dump and "$aesgcm$dkim$" in dump and "$aesgcm$certs$" in dump


def test_a_sealed_value_opens_only_with_its_secret_and_kind() -> None:
    sealer = Sealer(SECRET, lambda n: bytes(range(n)))
    sealed = sealer.seal("totp", "JBSWY3DPEHPK3PXP")

    assert sealed.startswith("$aesgcm$totp$") and "JBSWY3DPEHPK3PXP" not in sealed
    assert sealer.open("totp", sealed) == "JBSWY3DPEHPK3PXP"
    assert sealer.open("totp", "JBSWY3DPEHPK3PXP") == "JBSWY3DPEHPK3PXP"  # stored before a secret was set
    with pytest.raises(SealError):
        Sealer("another secret", lambda n: bytes(n)).open("totp", sealed)
    with pytest.raises(SealError):
        sealer.open("dkim", sealed)
    with pytest.raises(SealError):
        Sealer(None, lambda n: bytes(n)).open("totp", sealed)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SealError):
        sealer.open("totp", tampered)


def test_a_seed_sealed_under_another_secret_is_a_config_error_not_a_crash(database_url: str) -> None:
    def client_with(secret: str | None) -> tuple[System, falcon.testing.TestClient]:
        settings = Settings(
            database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com", secret=secret
        )
        system = System(settings)
        return system, falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})

    first, client = client_with(SECRET)
    user_id = client.simulate_post("/api/users", json={"username": "moved", "password": "secretvalue"}).json["id"]
    totp = pyotp.TOTP(client.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "t"}).json["seed"])
    client.simulate_post(f"/api/users/{user_id}/2fa/totp/enable", json={"token": totp.now()})
    first.close()

    second, other = client_with("a different secret")
    try:
        checked = other.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": totp.now()})
    finally:
        second.close()

    assert (checked.status_code, checked.json) == (
        500,
        {"error": "Can not use decrypted secret", "code": "InternalConfigError"},
    )
