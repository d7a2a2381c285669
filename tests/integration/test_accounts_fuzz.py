"""No accounts route answers 500, whatever a client sends: random JSON values in every field."""

from __future__ import annotations

import falcon.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_accounts_auth import create

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

ROUTES = [
    ("POST", "/api/authenticate", ["username", "password", "scope", "token", "protocol", "appId"]),
    ("POST", "/api/preauth", ["username", "scope"]),
    ("PUT", "/api/users/{user}", ["name", "password", "existingPassword", "tags", "targets", "quota", "metaData"]),
    ("POST", "/api/users/{user}/password/reset", ["validAfter"]),
    ("POST", "/api/users/{user}/addresses", ["address", "main", "allowWildcard", "tags", "metaData"]),
    ("PUT", "/api/addresses/renameDomain", ["oldDomain", "newDomain"]),
    ("POST", "/api/addresses/forwarded", ["address", "targets", "forwards", "autoreply", "allowWildcard"]),
    ("POST", "/api/settings/const:max:storage", ["value"]),
    ("POST", "/api/domainaliases", ["alias", "domain"]),
    ("POST", "/api/domainaccess/tag/allow", ["domain"]),
    ("POST", "/api/webhooks", ["type", "user", "url"]),
    ("POST", "/api/dkim", ["domain", "selector", "privateKey", "description"]),
    ("POST", "/api/certs", ["servername", "privateKey", "cert", "ca", "acme"]),
    ("POST", "/api/users/{user}/asps", ["description", "scopes", "password", "ttl", "generateMobileconfig"]),
    ("POST", "/api/users/{user}/2fa/totp/setup", ["issuer", "label"]),
    ("POST", "/api/users/{user}/2fa/totp/check", ["token"]),
    ("POST", "/api/users/{user}/2fa/webauthn/registration-challenge", ["description", "origin", "rpId"]),
    ("POST", "/api/users/{user}/2fa/webauthn/authentication-assertion", ["challenge", "rawId", "signature"]),
    ("GET", "/api/users/{user}/authlog", ["limit", "next", "filterip", "action"]),
    ("GET", "/api/addresses", ["query", "tags", "limit", "next", "previous"]),
    ("GET", "/api/.well-known/acme-challenge/some-token", ["token", "sess", "ip", "unknown"]),
    ("POST", "/api/users/{user}/2fa/totp/enable", ["token"]),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_input_never_gets_a_500(client: falcon.testing.TestClient, data: st.DataObject) -> None:
    user_id = getattr(client, "_fuzz_user", None) or create(client, "fuzzer")
    client._fuzz_user = user_id  # type: ignore[attr-defined]
    method, path, fields = data.draw(st.sampled_from(ROUTES))
    body = data.draw(st.dictionaries(st.sampled_from(fields), values, max_size=len(fields)))
    path = path.format(user=user_id)
    if method == "GET":
        params = {k: v if isinstance(v, str) else str(v) for k, v in body.items()}
        result = client.simulate_get(path, params=params)
    else:
        result = client.simulate_request(method, path, json=body)
    assert result.status_code < 500, (method, path, body, result.text)
