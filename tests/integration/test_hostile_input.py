"""What an attacker sends first: deeply nested JSON, lone surrogates, NUL characters and chunked bodies.
Each is answered with a 400 in the route's shape (or works, for chunked bodies), never a 500 or a crash."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import falcon.testing
import pytest

from chainmail.http.app import create_app
from chainmail.http.auth import Principal
from chainmail.http.bodies import MAX_JSON_DEPTH
from chainmail.system import System
from tests.integration.mail_support import create_user, mailbox_ids

DEEP_BODIES = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "just past the limit": b'{"a":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
}
LONE_SURROGATE = b'"\\ud800"'


def assert_api_400(result: falcon.testing.Result, *codes: str) -> None:
    assert result.status_code == 400, result.text
    assert result.json["code"] in codes, result.json
    assert "success" not in result.json


def assert_indexer_400(result: falcon.testing.Result) -> None:
    assert result.status_code == 400, result.text
    assert result.json["success"] is False and result.json["code"] and result.json["error"], result.json


def post_raw(client: falcon.testing.TestClient, path: str, body: bytes, method: str = "POST") -> falcon.testing.Result:
    return client.simulate_request(method, path, body=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("shape", DEEP_BODIES)
def test_deeply_nested_json_is_a_400_on_every_parser(client: falcon.testing.TestClient, shape: str) -> None:
    body = DEEP_BODIES[shape]

    assert_api_400(post_raw(client, "/api/users", body), "InvalidContent")
    assert_indexer_400(post_raw(client, "/idx/authenticate", body))
    assert_indexer_400(post_raw(client, "/idx/oauth/token", body))
    graphql = post_raw(client, "/idx/graphql", body)
    assert graphql.status_code == 400 and graphql.json["errors"][0]["message"], graphql.text
    variables = client.simulate_get("/idx/graphql", params={"query": "{ __typename }", "variables": body.decode()})
    assert variables.status_code == 400, variables.text


def test_nesting_up_to_the_limit_is_parsed(client: falcon.testing.TestClient) -> None:
    nested: Any = "deep"
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = {"k": nested}
    result = client.simulate_post("/api/users", json={"username": "nested", "password": "secretvalue", "x": nested})

    assert_api_400(result, "InputValidationError")  # parsed, then refused as an unknown key
    assert result.json["details"] == {"x": '"x" is not allowed'}


def test_a_lone_surrogate_is_a_400_on_every_wildduck_route_that_had_a_500(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "surrogates")
    inbox = mailbox_ids(client, user)["INBOX"]
    routes = [
        ("POST", "/api/users", b'{"username": ' + LONE_SURROGATE + b', "password": "secretvalue"}'),
        ("PUT", f"/api/users/{user}", b'{"name": ' + LONE_SURROGATE + b"}"),
        ("PUT", f"/api/users/{user}/mailboxes/{inbox}/messages", b'{"message": "1", "seen": ' + LONE_SURROGATE + b"}"),
        ("POST", f"/api/users/{user}/search", b'{"query": ' + LONE_SURROGATE + b"}"),
        ("POST", f"/api/users/{user}/asps", b'{"description": ' + LONE_SURROGATE + b', "scopes": ["imap"]}'),
        ("POST", "/api/certs", b'{"servername": ' + LONE_SURROGATE + b"}"),
        ("POST", "/api/users", b'{"username": "ok", "password": "secretvalue", ' + LONE_SURROGATE + b": 1}"),
    ]
    for method, path, body in routes:
        assert_api_400(post_raw(client, path, body, method), "InvalidContent", "InputValidationError")
    assert client.simulate_get("/api/users", params={"query": "surrogates"}).json["total"] == 1


@pytest.mark.parametrize("path", ["/idx/authenticate", "/idx/oauth/token", "/idx/oauth/revoke"])
def test_a_lone_surrogate_or_a_nul_is_a_400_on_the_indexer(client: falcon.testing.TestClient, path: str) -> None:
    surrogate = post_raw(client, path, b'{"username": ' + LONE_SURROGATE + b', "token": "t", "grant_type": "x"}')
    nul_json = client.simulate_post(path, json={"username": "a\x00b", "token": "a\x00b", "grant_type": "a\x00"})
    nul_form = client.simulate_post(path, params={"token": "a\x00b", "client_id": "c", "grant_type": "password"})

    for result in (surrogate, nul_json, nul_form):
        assert_indexer_400(result)


def test_nul_and_surrogates_in_a_query_string_or_path_are_refused_or_replaced(
    client: falcon.testing.TestClient,
) -> None:
    nul = client.simulate_get("/api/users", query_string="query=a%00b")
    surrogate = client.simulate_get("/api/users", query_string="query=%ED%A0%80")  # not UTF-8: decoded as U+FFFD
    in_path = client.simulate_get("/api/users/resolve/a%00b")

    assert_api_400(nul, "InputValidationError")
    assert nul.json["details"] == {"query": '"query" must not contain null characters'}
    assert surrogate.status_code == 200, surrogate.text
    assert_api_400(in_path, "InputValidationError")


def test_the_error_shaper_answers_even_when_the_input_cannot_be_encoded() -> None:
    from pydantic import BaseModel, Field, ValidationError

    from chainmail.http.validation import validation_error

    class Named(BaseModel):
        name: str = Field(pattern="^[a-z]+$")

    with pytest.raises(ValidationError) as caught:
        Named.model_validate({"name": "\ud800"})
    error = validation_error(caught.value)

    error.message.encode("utf-8")
    for key, value in error.details["details"].items():
        (key + value).encode("utf-8")


def test_an_error_raised_after_a_responder_began_a_raw_answer_is_json() -> None:
    # (a message source or a stored file sets its own content type before it may still fail)
    from chainmail.http.errors import ErrorShaper, WildDuckError

    class Raw:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.content_type, resp.data = "message/rfc822", b"partial"
            raise WildDuckError(404, "MessageNotFound", "Message was not found")

    app = falcon.App()
    ErrorShaper("/idx").install(app)
    app.add_route("/raw", Raw())
    answer = falcon.testing.TestClient(app).simulate_get("/raw")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/json")
    assert answer.json == {"error": "Message was not found", "code": "MessageNotFound"}


def chunked(
    client: falcon.testing.TestClient, path: str, body: bytes, content_type: str, method: str = "POST"
) -> falcon.testing.Result:
    """A chunked request as gunicorn hands it over: no Content-Length, `wsgi.input` de-chunked to the end."""
    return client.simulate_request(
        method,
        path,
        headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
        extras={"wsgi.input": io.BytesIO(body)},
    )


def test_chunked_bodies_are_read_on_every_kind_of_route(client: falcon.testing.TestClient, system: System) -> None:
    made = chunked(client, "/api/users", b'{"username": "chunky", "password": "secretvalue"}', "application/json")
    assert made.status_code == 200, made.text
    user = made.json["id"]
    inbox = mailbox_ids(client, user)["INBOX"]

    raw = b"From: a@example.org\r\nTo: chunky@example.com\r\nSubject: streamed\r\n\r\nbody\r\n"
    uploaded = chunked(client, f"/api/users/{user}/mailboxes/{inbox}/messages", raw, "message/rfc822")
    assert uploaded.status_code == 200, uploaded.text
    message = uploaded.json["message"]["id"]
    source = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages/{message}/message.eml")
    assert source.content == raw

    stored = chunked(
        client,
        f"/api/users/{user}/storage",
        b'{"filename": "a.bin", "encoding": "base64", "content": "' + base64.b64encode(b"\x00\x01file") + b'"}',
        "application/json",
    )
    assert stored.status_code == 200, stored.text
    assert client.simulate_get(f"/api/users/{user}/storage/{stored.json['id']}").content == b"\x00\x01file"

    form = chunked(client, f"/api/users/{user}", b"name=Chunked+Name", "application/x-www-form-urlencoded", "PUT")
    assert form.status_code == 200, form.text
    assert client.simulate_get(f"/api/users/{user}").json["name"] == "Chunked Name"

    exporter = falcon.testing.TestClient(
        create_app(system, user_tokens={"e" * 40: Principal(role="export", user="export", token="e" * 40)}.get),
        headers={"X-Access-Token": "e" * 40},
    )
    exported = exporter.simulate_post("/api/data/export", json={"users": [user]})
    assert exported.status_code == 200, exported.text
    imported = chunked(exporter, "/api/data/import", exported.content, "application/octet-stream")
    assert imported.status_code == 200, imported.text
    assert imported.json["entries"] == 2 and imported.json["failed"] == 0, imported.json  # read to the end


def test_a_chunked_body_past_the_limit_is_refused(client: falcon.testing.TestClient) -> None:
    from chainmail.http.app import MAX_BODY_BYTES

    class Endless(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            buffer[: len(buffer)] = b" " * len(buffer)
            self.sent += len(buffer)
            return len(buffer)

    endless = Endless()
    result = client.simulate_post(
        "/api/users",
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        extras={"wsgi.input": io.BufferedReader(endless)},
    )

    assert result.status_code == 413, result.text
    assert endless.sent <= MAX_BODY_BYTES + (2 << 20)


def _cursor(inner: Any, page: Any = 1) -> str:
    """A WildDuck-shaped cursor around any sort key, as a client could forge one."""

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    return b64(json.dumps([b64(json.dumps(inner)), page]))


OID = {"$oid": "0" * 24}
FORGED_CURSORS = {
    "id with NUL": _cursor({"$oid": "a\u0000b"}),
    "id a number": _cursor({"$oid": 5}),
    "key a number": _cursor([5, OID]),
    "key null": _cursor([None, OID]),
    "key a list": _cursor([[1], OID]),
    "key with NUL": _cursor(["a\u0000", OID]),
    "key text for a date": _cursor(["abc", OID]),
    "date past year 9999": _cursor([{"$date": 1e20}, OID]),
    "date 1e300": _cursor([{"$date": 1e300}, OID]),
}


@pytest.mark.parametrize("forged", FORGED_CURSORS)
def test_a_forged_cursor_is_ignored_on_every_listing(client: falcon.testing.TestClient, forged: str) -> None:
    """A cursor whose key no listing's sort could hold (found by fuzzing: each listing answered 500) is
    ignored, as one not in the wrapped form is: the first page."""
    user = create_user(client, "lister")
    inbox = mailbox_ids(client, user)["INBOX"]
    listings = [
        "/api/users",
        "/api/addresses",
        "/api/dkim",
        "/api/certs",
        "/api/domainaliases",
        "/api/filters",
        "/api/webhooks",
        f"/api/users/{user}/authlog",
        f"/api/users/{user}/storage",
        f"/api/users/{user}/archived/messages",
        f"/api/users/{user}/mailboxes/{inbox}/messages",
        f"/api/users/{user}/search",
        f"/api/users/{user}/search?order=desc",
    ]
    for listing in listings:
        for name in ("next", "previous"):
            path, _, query = listing.partition("?")
            result = client.simulate_get(path, query_string=f"{query}&{name}={FORGED_CURSORS[forged]}".lstrip("&"))
            assert result.status_code == 200, (listing, name, result.text)
            assert result.json["page"] == 1, (listing, name)


def test_an_update_that_changes_nothing_keeps_the_read_models_running(client: falcon.testing.TestClient) -> None:
    """`PUT` of a filter with nothing to change (`{"name": null}`) recorded an event with no changes, which
    stopped the filters' read model for every account (its update had no column to set)."""
    user = create_user(client, "filterer")
    made = client.simulate_post(f"/api/users/{user}/filters", json={"query": {"from": "a"}, "action": {"seen": True}})
    filter_id = made.json["id"]

    assert client.simulate_put(f"/api/users/{user}/filters/{filter_id}", json={"name": None}).json == {"success": True}
    renamed = client.simulate_put(f"/api/users/{user}/filters/{filter_id}", json={"name": "after"})
    assert renamed.status_code == 200, renamed.text
    assert client.simulate_get(f"/api/users/{user}/filters/{filter_id}").json["name"] == "after"
    assert client.simulate_get("/api/health").status_code == 200


@pytest.mark.parametrize("value", [1e308, "1e400", "NaN", "Infinity", 2**53 + 1])
def test_a_setting_no_number_can_hold_is_a_400(client: falcon.testing.TestClient, value: Any) -> None:
    """Stored, such values made every sign-in (authlog time) or new application password (its limit)
    answer 500."""
    for key in ("const:authlog:time", "const:asp:limit"):
        assert_api_400(client.simulate_post(f"/api/settings/{key}", json={"value": value}), "InputValidationError")
    too_long = client.simulate_post("/api/settings/const:authlog:time", json={"value": 10**15})
    assert_api_400(too_long, "InputValidationError")
    create_user(client, "signer", password="secretvalue")
    signed = client.simulate_post("/api/authenticate", json={"username": "signer", "password": "secretvalue"})
    assert signed.status_code == 200, signed.text


def test_wrong_types_and_sizes_found_by_fuzzing_are_400(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "restorer")
    restore = client.simulate_post(f"/api/users/{user}/archived/restore", json={"start": None, "end": None})
    assert_api_400(restore, "InputValidationError")
    rename = {"oldDomain": "x" * 1_000_000, "newDomain": "new.example.org"}
    assert_api_400(client.simulate_put("/api/addresses/renameDomain", json=rename), "InputValidationError")
    hooks = client.simulate_get("/api/webhooks", params={"type": "a" * 100_000})
    assert_api_400(hooks, "InputValidationError")


def test_a_message_from_an_address_no_mailbox_can_have_is_stored_and_mail_goes_on(
    client: falcon.testing.TestClient,
) -> None:
    """A message whose sender's address is longer than any address can be (found by fuzzing): remembering it
    in the address register stopped the messages' read model on PostgreSQL, for every account. It is stored
    and listed, the address is not remembered, and the next message is listed too."""
    user = create_user(client, "longsender")
    inbox = mailbox_ids(client, user)["INBOX"]
    long_sender = "x" * 400 + "@example.org"
    for sender in (long_sender, "short@example.org"):
        raw = f"From: Someone <{sender}>\r\nTo: longsender@example.com\r\nSubject: hi\r\n\r\nhello\r\n".encode()
        stored = client.simulate_post(
            f"/api/users/{user}/mailboxes/{inbox}/messages", body=raw, headers={"Content-Type": "message/rfc822"}
        )
        assert stored.status_code == 200, stored.text

    listed = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages").json
    assert listed["total"] == 2 and len(listed["results"]) == 2
    assert client.simulate_get("/api/health").status_code == 200
