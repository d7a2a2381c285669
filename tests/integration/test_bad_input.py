"""Bad input on the slice endpoints gets WildDuck's error shape and status, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
user_fields = st.sampled_from(
    ["username", "password", "address", "tags", "quota", "spamLevel", "targets", "mailboxes", "metaData",
     "disabledScopes", "hashedPassword", "language", "name", "featureFlags", "emptyAddress", "pubKey", "ip", "sess"]
)  # fmt: skip


def assert_wildduck_error(result: falcon.testing.Result, status: int, code: str) -> None:
    assert result.status_code == status, result.text
    assert result.json["code"] == code
    assert isinstance(result.json["error"], str) and result.json["error"]


def test_validation_errors_name_every_bad_field_in_joi_words(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post(
        "/api/users",
        json={"username": "ömyuser2", "password": True, "spamLevel": 101, "quota": "lots", "foo": 1},
    )

    assert_wildduck_error(result, 400, "InputValidationError")
    assert result.json["details"] == {
        "username": '"username" with value "ömyuser2" fails to match the username pattern',
        "password": '"password" must be a string',
        "spamLevel": '"spamLevel" must be less than or equal to 100',
        "quota": '"quota" must be a number',
        "foo": '"foo" is not allowed',
    }
    assert result.json["error"] == ". ".join(result.json["details"].values())


def test_required_fields_and_nested_paths(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post(
        "/api/users", json={"mailboxes": {"sent": "a//b"}, "disabledScopes": ["imap", "imap", "ftp"]}
    )

    details = result.json["details"]
    assert_wildduck_error(result, 400, "InputValidationError")
    assert details["username"] == '"username" is required'
    assert details["password"] == '"password" is required'
    assert (
        details["mailboxes,sent"] == '"mailboxes.sent" with value "a//b" matches the inverted pattern: /\\/{2,}|\\/$/'
    )
    assert details["disabledScopes,2"].startswith('"disabledScopes[2]" must be one of')


@pytest.mark.parametrize("user", ["123", "------------------------", "zzzzzzzzzzzzzzzzzzzzzzzz", "me"])
def test_malformed_user_ids_are_400(client: falcon.testing.TestClient, user: str) -> None:
    assert_wildduck_error(client.simulate_get(f"/api/users/{user}"), 400, "InputValidationError")
    assert_wildduck_error(client.simulate_delete(f"/api/users/{user}"), 400, "InputValidationError")


def test_unknown_keys_are_refused_outside_listings(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/api/users/0123456789abcdef01234567", params={"extra": "1"})

    assert_wildduck_error(result, 400, "InputValidationError")
    assert result.json["details"] == {"extra": '"extra" is not allowed'}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 251}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"next": "not a cursor!"}, "next"),
        ({"previous": "bm90IGpzb24"}, "previous"),
        ({"metaData": "perhaps"}, "metaData"),
        ({"query": "x" * 256}, "query"),
        ({"ip": "300.1.1.1"}, "ip"),
    ],
)
def test_bad_listing_parameters(client: falcon.testing.TestClient, params: dict, field: str) -> None:
    result = client.simulate_get("/api/users", params=params)

    assert_wildduck_error(result, 400, "InputValidationError")
    assert field in result.json["details"]


@pytest.mark.parametrize(
    "when",
    [6.77e19, "99999999999999999999", "-99999999999999999", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59-01:00"],
)
def test_dates_beyond_the_calendar_are_400(client: falcon.testing.TestClient, when: object) -> None:
    result = client.simulate_delete("/api/users/0123456789abcdef01234567", params={"deleteAfter": str(when)})

    assert_wildduck_error(result, 400, "InputValidationError")
    assert result.json["details"] == {"deleteAfter": '"deleteAfter" must be a valid date'}


def test_bad_deleteafter_and_username(client: falcon.testing.TestClient) -> None:
    bad_date = client.simulate_delete("/api/users/0123456789abcdef01234567", params={"deleteAfter": "someday"})
    bad_name = client.simulate_get("/api/users/resolve/" + "a" * 129)

    assert_wildduck_error(bad_date, 400, "InputValidationError")
    assert_wildduck_error(bad_name, 400, "InputValidationError")
    assert "username" in bad_name.json["details"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ("\xff\xfe", "application/json")],
)
def test_unparsable_bodies_are_400_in_restify_shape(
    client: falcon.testing.TestClient, body: str, content_type: str
) -> None:
    result = client.simulate_post("/api/users", body=body.encode("latin-1"), headers={"Content-Type": content_type})

    assert result.status_code == 400
    assert result.json["code"] == "InvalidContent" and result.json["message"]


def test_form_encoded_bodies_are_parameters_too(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post(
        "/api/users",
        body="username=formuser&password=secret&tags[]=a&tags[]=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert result.status_code == 200, result.text
    assert client.simulate_get(f"/api/users/{result.json['id']}").json["tags"] == ["a", "b"]


def test_path_beats_query_beats_body(client: falcon.testing.TestClient) -> None:
    created = client.simulate_post(
        "/api/users", params={"username": "fromquery"}, json={"username": "x", "password": ""}
    )

    assert created.status_code == 200
    assert client.simulate_get(f"/api/users/{created.json['id']}").json["username"] == "fromquery"


def test_unknown_routes_and_wrong_methods(client: falcon.testing.TestClient) -> None:
    missing = client.simulate_get("/api/nothing/here")
    trailing = client.simulate_get("/api/users/")
    wrong = client.simulate_patch("/api/users")

    assert (missing.status_code, missing.json) == (
        404,
        {"code": "ResourceNotFound", "message": "/api/nothing/here does not exist"},
    )
    assert trailing.status_code == 400  # an empty user id, refused by validation
    assert (wrong.status_code, wrong.json["code"]) == (405, "MethodNotAllowed")
    assert "GET" in wrong.headers["Allow"]


def test_indexer_paths_answer_in_the_indexer_shape(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/idx/no/such/route")

    assert result.status_code == 404
    assert result.json["success"] is False and result.json["code"] == "ResourceNotFound"
    assert result.json["error"] and result.json["timestamp"].endswith("Z")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(user_fields | st.text(max_size=8), json_values, max_size=6))
def test_no_user_body_makes_a_500(client: falcon.testing.TestClient, body: dict) -> None:
    result = client.simulate_post("/api/users", json=body)

    assert result.status_code in (200, 400), result.text
    if result.status_code == 400:
        assert set(result.json) >= {"code"} and ("error" in result.json or "message" in result.json)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    query=st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=4),
)
def test_no_path_or_query_makes_a_500(client: falcon.testing.TestClient, path: str, query: dict) -> None:
    path = quote(path, safe="")
    for result in (
        client.simulate_get("/api/users/" + path, params=query),
        client.simulate_get("/api/users/resolve/" + path, params=query),
        client.simulate_delete("/api/users/" + path, params=query),
        client.simulate_get("/api/users", params=query),
    ):
        assert result.status_code in (200, 400, 404, 405), result.text
