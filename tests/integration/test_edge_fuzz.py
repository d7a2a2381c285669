"""Every route under /api, /idx and /idx/api against what an attacker sends: deep nesting, lone surrogates, NUL,
huge numbers and strings, duplicate keys, wrong content types and chunked bodies. The answer is a success or
a 4xx in the route's shape (or a 503 naming a feature left off), never a 500."""

from __future__ import annotations

import io
import json
import re
from functools import partialmethod
from typing import Any

import falcon
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmail.http.wildduck.updates import UpdatesResource
from chainmail.system import System
from tests.integration.mail_support import create_user, mailbox_ids

ADDRESS = "0x" + "ab" * 20
OBJECT_ID = "0123456789abcdef01234567"
FIELDS = ["username", "password", "name", "address", "quota", "limit", "page", "slot", "chainId", "query",
          "tags", "metaData", "content", "raw", "subject", "text", "seen", "flagged", "message", "signature",
          "token", "grant_type", "client_id", "variables", "wallet", "amount", "size", "retention", "spamLevel",
          "next"]  # fmt: skip
HUGE_NUMBERS = [2**63, 10**30, -(2**64), 1e308, 2**53, 10**400]


def _routes(app: falcon.App) -> list[tuple[str, str]]:
    """(method, URI template) of every responder the app has (OPTIONS and Falcon's 405 stand-ins left out)."""
    found: list[tuple[str, str]] = []

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.resource is not None:
                for method, responder in node.method_map.items():
                    if method != "OPTIONS" and getattr(responder, "__name__", "") != "method_not_allowed":
                        found.append((method, node.uri_template))
            walk(node.children)

    walk(app._router._roots)
    return sorted(found)


def _path(template: str, user: str, mailbox: str) -> str:
    values = {"user": user, "mailbox": mailbox, "message": "1", "walletAddress": ADDRESS, "address": ADDRESS}
    values.update(username="fuzzer", count="10", name="name", domain="example.com", servername="example.com")
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), OBJECT_ID), template)


@pytest.fixture
def target(
    client: falcon.testing.TestClient, system: System, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[str, str]], str, str]:
    from chainmail.http.app import create_app

    # `/updates` streams until its client goes away, which a test client never does: one poll, then the end
    monkeypatch.setattr(UpdatesResource, "stream", partialmethod(UpdatesResource.stream, polls=1))

    user = create_user(client, "fuzzer")
    routes = _routes(create_app(system))
    return routes, user, mailbox_ids(client, user)["INBOX"]


def _deep(depth: int) -> bytes:
    return b'{"metaData":' + b"[" * depth + b"]" * depth + b"}"


def _object(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()


HOSTILE: dict[str, tuple[bytes, str]] = {
    "deep nesting": (_deep(100_000), "application/json"),
    "nesting past the limit": (_deep(70), "application/json"),
    "a lone surrogate": (b'{"username": "\\ud800", "name": "\\udfff", "query": "\\ud800"}', "application/json"),
    "a surrogate in a key": (b'{"\\ud800": 1}', "application/json"),
    "NUL": (_object({field: "a\x00b" for field in FIELDS}), "application/json"),
    "huge numbers": (_object(dict(zip(FIELDS, HUGE_NUMBERS * 5, strict=False))), "application/json"),
    "huge strings": (_object({field: "x" * 200_000 for field in FIELDS[:6]}), "application/json"),
    "duplicate keys": (b'{"username": "a", "username": ["b"], "quota": 1, "quota": "x"}', "application/json"),
    "wrong content type": (b"username=a&quota=1e400", "text/plain"),
    "JSON said to be a form": (b'{"username": "a"}', "application/x-www-form-urlencoded"),
    "a form of odd keys": (b"a[b][c][d][e][f][g]=1&a.b.c=2&%00=3&q=%ED%A0%80", "application/x-www-form-urlencoded"),
    "not UTF-8": (b'{"username": "\xff\xfe"}', "application/json"),
    "a JSON array": (b"[" + b"1," * 1000 + b"1]", "application/json"),
    "MIME nested deeply": (
        b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(3000)),
        "message/rfc822",
    ),
}


def _send(
    client: falcon.testing.TestClient, method: str, path: str, body: bytes, content_type: str, chunked: bool
) -> falcon.testing.Result:
    if method in ("GET", "HEAD", "DELETE") and not chunked:
        return client.simulate_request(method, path, query_string="q=%00&limit=1e400&next=%ED%A0%80")
    if chunked:  # as gunicorn hands a chunked body over: no length, the stream ends where the body does
        headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
        return client.simulate_request(method, path, headers=headers, extras={"wsgi.input": io.BytesIO(body)})
    return client.simulate_request(method, path, body=body, headers={"Content-Type": content_type})


def _no_5xx(result: falcon.testing.Result, what: str) -> None:
    if result.status_code == 503:  # a feature this deployment leaves off (KYC without Sumsub): said, not failed
        assert result.json["code"] not in ("INTERNAL_ERROR", "InternalError"), (what, result.text[:500])
        return
    assert result.status_code < 500, (what, result.status_code, result.text[:500])
    if result.status_code >= 400 and result.headers.get("content-type", "").startswith("application/json"):
        assert result.json is not None, what


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_every_route_refuses_hostile_bodies_without_a_5xx(
    client: falcon.testing.TestClient, target: tuple[list[tuple[str, str]], str, str], kind: str
) -> None:
    routes, user, mailbox = target
    body, content_type = HOSTILE[kind]
    for method, template in routes:
        if method in ("GET", "HEAD"):
            continue
        path = _path(template, user, mailbox)
        _no_5xx(_send(client, method, path, body, content_type, chunked=False), f"{kind}: {method} {path}")
    assert client.simulate_get(f"/api/users/{user}").status_code == 200


def test_every_route_refuses_hostile_query_strings_and_chunked_bodies_without_a_5xx(
    client: falcon.testing.TestClient, target: tuple[list[tuple[str, str]], str, str]
) -> None:
    routes, user, mailbox = target
    body, content_type = HOSTILE["huge numbers"]
    for method, template in routes:
        path = _path(template, user, mailbox)
        _no_5xx(_send(client, method, path, body, content_type, chunked=False), f"query: {method} {path}")
        if method not in ("GET", "HEAD"):
            _no_5xx(_send(client, method, path, body, content_type, chunked=True), f"chunked: {method} {path}")


hostile_text = st.sampled_from(["\ud800", "\x00", "a\x00b", "\udfff\ud800", "x" * 5000, "💌", ""]) | st.text(
    max_size=20
)
hostile_numbers = st.sampled_from(HUGE_NUMBERS) | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
hostile_values = st.recursive(
    st.none() | st.booleans() | hostile_numbers | hostile_text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS) | hostile_text, inner, max_size=3)
    ),
    max_leaves=10,
)


def _encode(value: Any, depth: int) -> bytes:
    text = json.dumps(value, ensure_ascii=True)  # lone surrogates go out as \\ud800 escapes, as an attacker's do
    return b"[" * depth + text.encode() + b"]" * depth


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.data(),
    body=st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=6),
    depth=st.sampled_from([0, 0, 0, 70, 5000]),
    content_type=st.sampled_from(
        ["application/json", "application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
    chunked=st.booleans(),
)
def test_random_hostile_requests_never_make_a_5xx(
    client: falcon.testing.TestClient,
    target: tuple[list[tuple[str, str]], str, str],
    data: st.DataObject,
    body: dict[str, Any],
    depth: int,
    content_type: str,
    chunked: bool,
) -> None:
    routes, user, mailbox = target
    method, template = data.draw(st.sampled_from(routes))
    path = _path(template, user, mailbox)
    result = _send(client, method, path, _encode(body, depth), content_type, chunked)
    _no_5xx(result, f"{method} {path}")


HUGE_DIGITS = "9" * 20  # past a BIGINT and past what JavaScript holds exactly


def test_every_route_refuses_huge_numbers_in_its_path_and_query_without_a_5xx(
    client: falcon.testing.TestClient, target: tuple[list[tuple[str, str]], str, str]
) -> None:
    """A message UID, a count or any other path parameter given as a number no column holds (the user and
    the folder stay real, so the request reaches what reads the number)."""
    routes, user, mailbox = target
    body, content_type = _object({"message": f"1,{HUGE_DIGITS}", "seen": True}), "application/json"
    query = f"id=1,{HUGE_DIGITS}&uid={HUGE_DIGITS}&limit={HUGE_DIGITS}&page={HUGE_DIGITS}&message={HUGE_DIGITS}:*"
    for method, template in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: {"user": user, "mailbox": mailbox}.get(m.group(1), HUGE_DIGITS), template)
        if method in ("GET", "HEAD", "DELETE"):
            result = client.simulate_request(method, path, query_string=query)
        else:
            result = client.simulate_request(method, path, body=body, headers={"Content-Type": content_type})
        _no_5xx(result, f"huge: {method} {path}")
    for message in (f"1,{HUGE_DIGITS}", f"{HUGE_DIGITS}:*", f"1:{HUGE_DIGITS}"):  # a range names what exists
        ranged = client.simulate_put(f"/api/users/{user}/mailboxes/{mailbox}/messages", json={"message": message})
        _no_5xx(ranged, f"range {message}")
    single = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages/{HUGE_DIGITS}")
    assert single.status_code == 400 and single.json["error"] == '"message" must be a safe number'
