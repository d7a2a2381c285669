"""The accounts read models rebuilt from the first event equal the live ones, row for row."""

from __future__ import annotations

import falcon.testing
import pyotp

from chainmail.projections.access_tokens import AccessTokensProjection
from chainmail.projections.account_archive import AccountArchiveProjection
from chainmail.projections.addresses import AddressesProjection
from chainmail.projections.asps import AspsProjection
from chainmail.projections.authlog import AuthlogProjection
from chainmail.projections.domains import DomainsProjection
from chainmail.projections.keys import KeysProjection
from chainmail.projections.settings import SettingsProjection
from chainmail.projections.users import UsersProjection
from chainmail.projections.webhooks import WebhooksProjection
from chainmail.system import System

from .test_accounts_auth import create, login
from .test_projections import rows

ACCOUNT_PROJECTIONS = (
    UsersProjection,
    AddressesProjection,
    AuthlogProjection,
    AccessTokensProjection,
    SettingsProjection,
    DomainsProjection,
    WebhooksProjection,
    KeysProjection,
    AspsProjection,
    AccountArchiveProjection,
)


def test_replay_rebuilds_the_accounts_read_models(client: falcon.testing.TestClient, system: System) -> None:
    ann = create(client, "ann", tags=["a"])
    bob = create(client, "bob")
    client.simulate_put(f"/api/users/{ann}", json={"name": "Ann", "tags": ["b"], "password": "new-password"})
    extra = client.simulate_post(f"/api/users/{ann}/addresses", json={"address": "ann2@example.org", "main": True})
    client.simulate_put(f"/api/users/{ann}/addresses/{extra.json['id']}", json={"tags": ["x"]})
    client.simulate_post("/api/addresses/forwarded", json={"address": "fw@example.org", "targets": ["a@b.org"]})
    login(client, "ann", "new-password", token=True)
    login(client, "ann", "wrong")
    client.simulate_post(f"/api/users/{ann}/asps", json={"description": "phone"})
    seed = client.simulate_post(f"/api/users/{ann}/2fa/totp/setup", json={"issuer": "x"}).json["seed"]
    client.simulate_post(f"/api/users/{ann}/2fa/totp/enable", json={"token": pyotp.TOTP(seed).now()})
    client.simulate_post("/api/settings/const:max:storage", json={"value": 5})
    client.simulate_post("/api/settings/const:max:storage", json={"value": 6})
    client.simulate_post("/api/domainaliases", json={"alias": "alias.org", "domain": "example.org"})
    client.simulate_post("/api/domainaccess/t/allow", json={"domain": "ok.org"})
    client.simulate_post("/api/webhooks", json={"type": ["*"], "url": "https://h.example.org"})
    client.simulate_post("/api/dkim", json={"domain": "example.org", "selector": "s"})
    client.simulate_post("/api/certs", json={"servername": "mx.example.org", "acme": True})
    client.simulate_post("/api/certs", json={"servername": "old.example.org", "acme": True})
    system.mail.record_acme_challenge("mx.example.org", "first", "first.key")
    system.mail.record_acme_challenge("mx.example.org", "second", "second.key")
    system.mail.record_acme_challenge("old.example.org", "gone", "gone.key")
    system.mail.clear_acme_challenge("old.example.org", "gone")
    client.simulate_delete(f"/api/users/{bob}", params={"deleteAfter": "2999-01-01"})
    client.simulate_post(f"/api/users/{bob}/restore")

    for projection in ACCOUNT_PROJECTIONS:
        live = rows(system.engine, projection)
        assert any(live.values()), projection.name
        result = system.projections.replay(projection.name)
        assert result.swapped
        assert rows(system.engine, projection) == live, projection.name
