"""Addresses as a WildDuck client manages them: user addresses, main and wildcard rules, listing, resolve,
renaming a domain, forwarded addresses."""

from __future__ import annotations

import falcon.testing

from .test_accounts_auth import create, login


def add(client: falcon.testing.TestClient, user_id: str, address: str, **fields: object) -> falcon.testing.Result:
    return client.simulate_post(f"/api/users/{user_id}/addresses", json={"address": address, **fields})


def test_a_user_gets_more_addresses_and_a_new_main_one(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "xena")

    extra = add(client, user_id, "Xena.Warrior@Example.org", name="X", tags=["b", "A"], metaData={"k": 1})
    add(client, user_id, "boss@example.net", main=True)
    listed = client.simulate_get(f"/api/users/{user_id}/addresses", params={"metaData": "true"}).json["results"]
    user = client.simulate_get(f"/api/users/{user_id}").json

    assert extra.status_code == 200 and len(extra.json["id"]) == 24
    assert user["address"] == "boss@example.net"
    by_address = {a["address"]: a for a in listed}
    assert set(by_address) == {"xena@example.com", "xena.warrior@example.org", "boss@example.net"}
    assert [a["main"] for a in (by_address["boss@example.net"], by_address["xena@example.com"])] == [True, False]
    assert by_address["xena.warrior@example.org"]["tags"] == ["A", "b"]
    assert by_address["xena.warrior@example.org"]["metaData"] == {"k": 1}
    assert login(client, "xenawarrior@example.org", "secretvalue").json["id"] == user_id

    one = client.simulate_get(f"/api/users/{user_id}/addresses/{extra.json['id']}").json
    assert one["success"] is True and one["name"] == "X" and one["main"] is False


def test_main_address_rules(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "yuri")
    main_id = client.simulate_get(f"/api/users/{user_id}/addresses").json["results"][0]["id"]
    wildcard = add(client, user_id, "*@yuri.example.org", allowWildcard=True)

    delete_main = client.simulate_delete(f"/api/users/{user_id}/addresses/{main_id}")
    unset_main = client.simulate_put(f"/api/users/{user_id}/addresses/{main_id}", json={"main": False})
    wildcard_main = client.simulate_put(f"/api/users/{user_id}/addresses/{wildcard.json['id']}", json={"main": True})
    no_flag = add(client, user_id, "*@other.example.org")
    plus = add(client, user_id, "yuri+x@example.org")
    taken = add(client, user_id, "yuri@example.com")

    assert wildcard.status_code == 200
    assert (delete_main.status_code, delete_main.json["code"]) == (400, "NotPermitted")
    assert (unset_main.status_code, unset_main.json["error"]) == (400, "Cannot unset main status")
    assert (wildcard_main.status_code, wildcard_main.json["code"]) == (400, "WildcardNotPermitted")
    assert (no_flag.status_code, no_flag.json["error"]) == (400, "Address can not contain *")
    assert (plus.status_code, plus.json["error"]) == (400, "Address can not contain +")
    assert (taken.status_code, taken.json["code"]) == (400, "AddressExistsError")


def test_renaming_and_deleting_an_address_frees_its_name(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "zoe")
    other = create(client, "zack")
    extra_id = add(client, user_id, "zoe.extra@example.org").json["id"]

    renamed = client.simulate_put(f"/api/users/{user_id}/addresses/{extra_id}", json={"address": "zoe2@example.org"})
    reuse_old = add(client, other, "zoe.extra@example.org")
    deleted = client.simulate_delete(f"/api/users/{user_id}/addresses/{extra_id}")
    reuse_new = add(client, other, "zoe2@example.org")
    gone = client.simulate_get(f"/api/users/{user_id}/addresses/{extra_id}")

    assert renamed.json == {"success": True}
    assert reuse_old.status_code == 200
    assert deleted.json == {"success": True}
    assert reuse_new.status_code == 200
    assert (gone.status_code, gone.json["code"]) == (404, "AddressNotFound")


def test_the_address_listing_filters_and_pages_by_address(client: falcon.testing.TestClient) -> None:
    ann = create(client, "ann", tags=[])
    add(client, ann, "sales@shop.example.org", tags=["shop", "vip"])
    add(client, ann, "help@shop.example.org", tags=["shop"])

    everything = client.simulate_get("/api/addresses").json
    shop = client.simulate_get("/api/addresses", params={"query": "shop"}).json
    required = client.simulate_get("/api/addresses", params={"requiredTags": "shop,vip"}).json
    first = client.simulate_get("/api/addresses", params={"limit": 2}).json
    second = client.simulate_get("/api/addresses", params={"limit": 2, "next": first["nextCursor"]}).json
    back = client.simulate_get("/api/addresses", params={"limit": 2, "previous": second["previousCursor"]}).json

    assert everything["total"] == 3
    assert [a["address"] for a in everything["results"]] == [
        "ann@example.com",
        "help@shop.example.org",
        "sales@shop.example.org",
    ]
    assert everything["results"][0] == {
        "id": everything["results"][0]["id"],
        "name": False,
        "address": "ann@example.com",
        "user": ann,
        "forwarded": False,
        "forwardedDisabled": False,
        "tags": [],
    }
    assert (shop["total"], shop["query"]) == (2, "shop")
    assert [a["address"] for a in required["results"]] == ["sales@shop.example.org"]
    assert [a["address"] for a in second["results"]] == ["sales@shop.example.org"]
    assert second["page"] == 2 and second["nextCursor"] is False
    assert [a["address"] for a in back["results"]] == [a["address"] for a in first["results"]]


def test_resolve_by_address_id_and_wildcard(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "bea")
    wildcard_id = add(client, user_id, "*@bea.example.org", allowWildcard=True).json["id"]

    by_address = client.simulate_get("/api/addresses/resolve/Bea@Example.com").json
    by_id = client.simulate_get(f"/api/addresses/resolve/{by_address['id']}").json
    no_wildcard = client.simulate_get("/api/addresses/resolve/any@bea.example.org")
    with_wildcard = client.simulate_get("/api/addresses/resolve/any@bea.example.org", params={"allowWildcard": "yes"})

    assert by_address["user"] == user_id and by_address["address"] == "bea@example.com"
    assert by_id == by_address
    assert (no_wildcard.status_code, no_wildcard.json["code"]) == (404, "AddressNotFound")
    assert with_wildcard.json["id"] == wildcard_id


def test_forwarded_addresses_crud(client: falcon.testing.TestClient) -> None:
    created = client.simulate_post(
        "/api/addresses/forwarded",
        json={
            "address": "list@fwd.example.org",
            "name": "List",
            "targets": ["a@elsewhere.org", "https://hook.example.org/x", "smtp://mx.example.org:25"],
            "forwards": 5,
            "autoreply": {"status": True, "subject": "Away"},
        },
    )
    address_id = created.json["id"]
    got = client.simulate_get(f"/api/addresses/forwarded/{address_id}").json
    updated = client.simulate_put(
        f"/api/addresses/forwarded/{address_id}", json={"targets": ["b@elsewhere.org"], "forwardedDisabled": True}
    )
    after = client.simulate_get(f"/api/addresses/forwarded/{address_id}").json
    resolved = client.simulate_get("/api/addresses/resolve/list@fwd.example.org").json
    listed = client.simulate_get("/api/addresses", params={"forward": "elsewhere"}).json
    login_attempt = login(client, "list@fwd.example.org", "whatever")
    deleted = client.simulate_delete(f"/api/addresses/forwarded/{address_id}")
    missing = client.simulate_get(f"/api/addresses/forwarded/{address_id}")

    assert created.status_code == 200, created.text
    assert got["targets"] == ["a@elsewhere.org", "https://hook.example.org/x", "smtp://mx.example.org:25"]
    assert got["limits"]["forwards"] == {"allowed": 5, "used": 0, "ttl": False}
    client.simulate_post("/api/settings/const:max:forwards", json={"value": 9})
    unlimited = client.simulate_post("/api/addresses/forwarded", json={"address": "f2@fwd.example.org"}).json["id"]
    assert client.simulate_get(f"/api/addresses/forwarded/{unlimited}").json["limits"]["forwards"]["allowed"] == 9
    assert got["autoreply"]["subject"] == "Away" and got["autoreply"]["status"] is True
    assert got["forwardedDisabled"] is False and got["name"] == "List"
    assert updated.json == {"success": True}
    assert after["targets"] == ["b@elsewhere.org"] and after["forwardedDisabled"] is True
    assert resolved["id"] == address_id and "user" not in resolved
    assert [(a["forwarded"], a["forwardedDisabled"], a["targets"]) for a in listed["results"]] == [
        (True, True, ["b@elsewhere.org"])
    ]
    assert login_attempt.status_code == 403
    assert deleted.json == {"success": True}
    assert (missing.status_code, missing.json["code"]) == (404, "AddressNotFound")


def test_rename_domain_moves_addresses_and_main_addresses(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "cleo", address="cleo@old.example.org")
    add(client, user_id, "cleo.two@old.example.org")
    client.simulate_post("/api/addresses/forwarded", json={"address": "fw@old.example.org", "targets": ["x@y.org"]})
    client.simulate_post("/api/dkim", json={"domain": "old.example.org", "selector": "s"})
    client.simulate_post("/api/domainaliases", json={"alias": "alias.example.org", "domain": "old.example.org"})

    result = client.simulate_put(
        "/api/addresses/renameDomain", json={"oldDomain": "old.example.org", "newDomain": "new.example.org"}
    )

    assert result.json == {
        "success": True,
        "modifiedAddresses": 3,
        "modifiedUsers": 1,
        "modifiedDkim": 1,
        "modifiedAliases": 1,
    }
    assert client.simulate_get("/api/dkim/resolve/new.example.org").status_code == 200
    assert client.simulate_get("/api/domainaliases").json["results"][0]["domain"] == "new.example.org"
    assert client.simulate_get(f"/api/users/{user_id}").json["address"] == "cleo@new.example.org"
    assert login(client, "cleo.two@new.example.org", "secretvalue").status_code == 200
    assert login(client, "cleo.two@old.example.org", "secretvalue").status_code == 403


def test_bad_address_input_is_400(client: falcon.testing.TestClient) -> None:
    user_id = create(client, "dora")
    for method, path, body in (
        ("POST", f"/api/users/{user_id}/addresses", {}),
        ("POST", f"/api/users/{user_id}/addresses", {"address": "not an address"}),
        ("POST", f"/api/users/{user_id}/addresses", {"address": "a@b.org", "name": "x" * 129}),
        ("POST", f"/api/users/{user_id}/addresses", {"address": "a*b@c.org", "allowWildcard": True}),
        ("POST", f"/api/users/{user_id}/addresses", {"address": "*@c.org", "allowWildcard": True, "main": True}),
        ("PUT", f"/api/users/{user_id}/addresses/{'0' * 24}", {"address": "nope"}),
        ("GET", "/api/addresses", {"limit": 300}),
        ("GET", "/api/addresses/resolve/nonsense", {}),
        ("PUT", "/api/addresses/renameDomain", {"oldDomain": "a.org"}),
        ("POST", "/api/addresses/forwarded", {"address": "f@x.org", "targets": ["ftp://x"]}),
        ("POST", "/api/addresses/forwarded", {"address": "f@x.org", "autoreply": {"bogus": 1}}),
        ("GET", "/api/addresses/forwarded/xyz", {}),
    ):
        if method == "GET":
            result = client.simulate_get(path, params=body)
        else:
            result = client.simulate_request(method, path, json=body)
        assert result.status_code == 400, (path, body, result.text)
        assert result.json["code"] == "InputValidationError", (path, body, result.json)
    nobody = "0" * 24
    assert client.simulate_get(f"/api/users/{nobody}/addresses").json["code"] == "UserNotFound"
    assert add(client, nobody, "q@example.org").json["code"] == "UserNotFound"
