"""The indexer's Ponder-style GraphQL API (`/idx/graphql`, `/idx/`) over chains indexed from a real anvil node:
every root field with filters, ordering, cursor paging both ways, totalCount and lookups by id; and every
malformed request answered in GraphQL's error shape, never with a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest
from graphql import get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.chains import ChainSpec
from chainmail.domain.chain.logs import LogRecord
from chainmail.http.app import create_app
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.chain.harness import index, spec_for

CHAIN = 31337


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil(CHAIN)
    yield node
    node.stop()


@dataclass
class Indexed:
    client: falcon.testing.TestClient
    anvil: Anvil
    mailer: str
    wallets: list[str]  # lower-case addresses of anvil's accounts

    def query(self, text: str, variables: dict[str, Any] | None = None, path: str = "/idx/graphql") -> dict:
        got = self.client.simulate_post(path, json={"query": text, "variables": variables or {}})
        assert got.status_code == 200, got.text
        body = got.json
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def indexed(system: System, anvil: Anvil) -> Iterator[Indexed]:
    """Mails of every kind, delegations and a 3DNS name on the chain, indexed and folded."""
    snapshot = anvil.snapshot()
    mailer = anvil.deploy("MailerEvents")
    names = anvil.deploy("ThreeDNSEvents")
    f, a = mailer.contract.functions, anvil.accounts
    for i in range(5):
        anvil.send(f.send(a[1], f"Hello {i}", f"body {i}", a[0], i % 2 == 0, False, True), 0)
    anvil.send(f.sendMany(a[1], "bulk", 7), 2)  # seven mails in one block, told apart by log index
    anvil.send(f.sendPrepared(a[1], "prepared-mail-42", a[0], False, True), 0)
    anvil.send(f.sendToEmail("someone@example.com", "To e-mail", "Body", a[0]), 0)
    anvil.send(f.sendPreparedToEmail("other@example.com", "prepared-email-7", a[0]), 0)
    anvil.send(f.sendThroughWebhook(a[2], "webhook-1", a[0], True, False), 0)
    anvil.send(f.delegateTo(a[3]), 0)
    anvil.send(f.delegateTo(a[3]), 1)
    anvil.send(f.rejectDelegation(a[1]), 3)  # the delegate turns wallet 1 down
    anvil.send(f.setFee(10**30), 0)  # a uint256 beyond what a JavaScript number holds
    node = "0x" + "42" * 32
    fqdn = b"\x07example\x03com\x00"
    anvil.send(names.contract.functions.register(node, "0x" + "00" * 32, fqdn, a[4], 2_000_000_000), 0)
    spec = spec_for(anvil, [mailer.address], threedns=names.address)
    index(system, ChainSpec(**{**spec.__dict__, "receipts": True}))  # gas used and price from the receipts
    system.projections.catch_up_all()  # the statistics view is folded by `chainmail project`
    client = falcon.testing.TestClient(create_app(system))
    yield Indexed(client, anvil, mailer.address, [x.lower() for x in a])
    anvil.revert(snapshot)


PAGE = "items { id subject timestamp logIndex } pageInfo { startCursor endCursor hasPreviousPage hasNextPage }"


def test_mails_page_forwards_and_backwards_with_opaque_cursors_and_a_steady_total_count(indexed: Indexed) -> None:
    everything = indexed.query(
        '{ mails(orderBy: "timestamp", orderDirection: "desc", limit: 1000) { items { id } totalCount } }'
    )["mails"]
    ids = [m["id"] for m in everything["items"]]
    assert everything["totalCount"] == len(ids) == 5 + 7 + 1 + 1  # direct, bulk, to e-mail, webhook
    assert len(set(ids)) == len(ids)

    query = (
        'query Page($after: String, $before: String) { mails(orderBy: "timestamp", orderDirection: "desc", '
        f"limit: 4, after: $after, before: $before) {{ {PAGE} totalCount }} }}"
    )
    pages, after = [], None
    while True:
        page = indexed.query(query, {"after": after})["mails"]
        assert page["totalCount"] == len(ids)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [m["id"] for p in pages for m in p["items"]] == ids
    assert [len(p["items"]) for p in pages] == [4, 4, 4, 2]
    assert pages[0]["pageInfo"]["hasPreviousPage"] is False
    assert all(p["pageInfo"]["hasPreviousPage"] for p in pages[1:])
    timestamps = [int(m["timestamp"]) for p in pages for m in p["items"]]
    assert timestamps == sorted(timestamps, reverse=True)
    assert all(isinstance(m["timestamp"], str) for m in pages[0]["items"])  # BigInt travels as a string

    # and back again from the last page, with `before`
    back, before = [], pages[-1]["pageInfo"]["startCursor"]
    while before is not None:
        page = indexed.query(query, {"before": before})["mails"]
        back = page["items"] + back
        assert page["pageInfo"]["hasNextPage"] is True
        before = page["pageInfo"]["startCursor"] if page["pageInfo"]["hasPreviousPage"] else None
    assert [m["id"] for m in back] == ids[:-2]

    # offset pagination, as Ponder also offers
    offset = indexed.query(
        f'{{ mails(orderBy: "timestamp", orderDirection: "desc", limit: 3, offset: 3) {{ {PAGE} }} }}'
    )
    assert [m["id"] for m in offset["mails"]["items"]] == ids[3:6]
    assert offset["mails"]["pageInfo"]["hasPreviousPage"] is True
    assert offset["mails"]["pageInfo"]["startCursor"] is None


def test_where_filters_with_ponder_operators(indexed: Indexed) -> None:
    w = indexed.wallets

    def ids(where: str, variables: dict[str, Any] | None = None, decl: str = "") -> list[str]:
        text = f"query{decl} {{ mails(where: {where}, limit: 100) {{ items {{ subject }} totalCount }} }}"
        page = indexed.query(text, variables)["mails"]
        assert page["totalCount"] == len(page["items"])
        return sorted(m["subject"] or "" for m in page["items"])

    hellos = [f"Hello {i}" for i in range(5)]
    checksummed = indexed.anvil.accounts[0]
    assert checksummed != checksummed.lower()
    assert ids("{from: $v}", {"v": checksummed}, "($v: String)") == sorted(
        [*hellos, "To e-mail", ""]
    )  # addresses compare lower-cased
    assert ids('{from_in: $l, subject_starts_with: "Hello"}', {"l": [w[0], w[5]]}, "($l: [String])") == hellos
    assert ids('{subject_contains: "ello 3"}') == ["Hello 3"]
    assert ids('{subject_contains: "hello"}') == []  # case-sensitive on both stores
    assert ids('{subject_contains_nocase: "hello"}') == hellos
    assert ids('{subject_ends_with: "4"}') == ["Hello 4"]
    assert ids('{subject_not_starts_with: "Hello", subject_not: "bulk"}') == ["To e-mail"]
    assert ids('{subject_contains: "100%"}') == []  # no LIKE wildcards leak through
    assert ids("{to: null}") == ["To e-mail"]
    assert len(ids("{to_not: null}")) == 5 + 7 + 1
    assert ids('{kind: "webhook"}') == [""]
    assert ids('{kind_not_in: ["direct"]}') == ["", "To e-mail"]
    assert ids('{OR: [{subject: "Hello 1"}, {subject: "Hello 2"}]}') == ["Hello 1", "Hello 2"]
    assert ids('{AND: [{subject_starts_with: "Hello"}, {revenueShareToReceiver: true}]}') == [
        "Hello 0",
        "Hello 2",
        "Hello 4",
    ]
    blocks = indexed.query('{ mails(where: {subject: "Hello 2"}) { items { blockNumber id } } }')["mails"]["items"]
    block = int(blocks[0]["blockNumber"])
    later = ids('{blockNumber_gt: $v, subject_starts_with: "Hello"}', {"v": str(block)}, "($v: BigInt)")
    assert later == ["Hello 3", "Hello 4"]
    assert ids(f'{{blockNumber_lte: "{block}", subject_starts_with: "Hello"}}') == hellos[:3]
    assert ids(f'{{blockNumber_in: [{block}, "{block + 1}"]}}') == ["Hello 2", "Hello 3"]
    mail_id = blocks[0]["id"]
    assert ids("{id: $v}", {"v": mail_id.upper().replace("0X", "0x")}, "($v: String)") == ["Hello 2"]
    assert ids("{id_in: $l}", {"l": [mail_id, "31337:0xnothing:0", "garbage"]}, "($l: [String])") == ["Hello 2"]
    assert len(ids("{id_not: $v}", {"v": mail_id}, "($v: String)")) == 13
    assert len(ids("{id_starts_with: $v}", {"v": f"{CHAIN}:0x"}, "($v: String)")) == 14
    assert ids('{id_ends_with: ":0", subject_starts_with: "Hello"}') == hellos

    got = indexed.query(
        "query($id: String!) { mail(id: $id) { subject body from to kind feePaid gasUsed gasPrice } }", {"id": mail_id}
    )
    gas_used, gas_price = int(got["mail"].pop("gasUsed")), int(got["mail"].pop("gasPrice"))
    assert 21_000 < gas_used < 3_000_000 and gas_price > 0  # from the transaction's receipt
    assert got["mail"] == {
        "subject": "Hello 2",
        "body": "body 2",
        "from": w[0],
        "to": w[1],
        "kind": "direct",
        "feePaid": True,
    }
    assert indexed.query('{ mail(id: "31337:0x00:0") { id } }')["mail"] is None
    assert indexed.query('{ mail(id: "no id at all") { id } }')["mail"] is None


def test_prepared_mails_delegations_statistics_event_logs_and_names(indexed: Indexed) -> None:
    w = indexed.wallets
    prepared = indexed.query('{ preparedMails(orderBy: "mailId") { items { mailId toEmail to from } totalCount } }')
    assert prepared["preparedMails"] == {
        "items": [
            {"mailId": "prepared-email-7", "toEmail": "other@example.com", "to": None, "from": w[0]},
            {"mailId": "prepared-mail-42", "toEmail": None, "to": w[1], "from": w[0]},
        ],
        "totalCount": 2,
    }

    delegations = indexed.query(
        '{ delegations(orderBy: "delegator") { items { id delegator delegate isActive chainId } } }'
    )["delegations"]["items"]
    expected = [
        {"id": f"{CHAIN}:{w[0]}", "delegator": w[0], "delegate": w[3], "isActive": True, "chainId": CHAIN},
        {"id": f"{CHAIN}:{w[1]}", "delegator": w[1], "delegate": None, "isActive": False, "chainId": CHAIN},
    ]
    assert delegations == sorted(expected, key=lambda d: d["delegator"])  # the delegate turned wallet 1 down
    one = indexed.query("query($id: String!) { delegation(id: $id) { delegate } }", {"id": f"{CHAIN}:{w[0].upper()}"})
    assert one["delegation"] == {"delegate": w[3]}
    active = indexed.query("{ delegations(where: {isActive: true}) { totalCount } }")
    assert active["delegations"]["totalCount"] == 1

    stats = indexed.query(
        """query($id: String!) { userStatistics(id: $id) { address mailsSent mailsReceived preparedMailsSent
        preparedMailsReceived delegationsGiven delegationsReceived firstMailTimestamp lastMailTimestamp
        totalGasUsed averageGasPrice } }""",
        {"id": f"{CHAIN}:{w[0]}"},
    )["userStatistics"]
    assert {k: v for k, v in stats.items() if "Timestamp" not in k and "Gas" not in k} == {
        "address": w[0],
        "mailsSent": 5 + 1 + 1,  # direct, to e-mail, webhook
        "mailsReceived": 0,
        "preparedMailsSent": 2,
        "preparedMailsReceived": 0,
        "delegationsGiven": 1,
        "delegationsReceived": 0,
    }
    assert int(stats["firstMailTimestamp"]) <= int(stats["lastMailTimestamp"])
    sent = indexed.query(
        "query($w: String) { mails(where: {from: $w}) { items { transactionHash gasUsed gasPrice } } "
        "preparedMails(where: {from: $w}) { items { transactionHash gasUsed gasPrice } } }",
        {"w": w[0]},
    )
    transactions = {m["transactionHash"]: m for page in sent.values() for m in page["items"]}
    assert len(transactions) == 9  # the wallet's sending transactions, one mail each
    assert int(stats["totalGasUsed"]) == sum(int(m["gasUsed"]) for m in transactions.values())
    prices = [int(m["gasPrice"]) for m in transactions.values()]
    assert int(stats["averageGasPrice"]) == sum(prices) // len(prices)
    ranking = indexed.query(
        '{ userStatisticss(orderBy: "mailsReceived", orderDirection: "desc", limit: 2) '
        "{ items { address mailsReceived } } }"
    )["userStatisticss"]["items"]
    assert ranking == [{"address": w[1], "mailsReceived": 5 + 7}, {"address": w[2], "mailsReceived": 1}]
    delegates = indexed.query(
        "{ userStatisticss(where: {delegationsReceived_gt: 0}) { items { address delegationsReceived } } }"
    )
    assert delegates["userStatisticss"]["items"] == [{"address": w[3], "delegationsReceived": 2}]

    totals = indexed.query(
        """{ chainStatistics(id: "global") { id totalChains totalMails totalPreparedMails totalDelegations totalUsers
                                             totalGasUsed averageGasPrice }
             chainStatisticss(where: {chainId: 31337}) { items { id totalMails totalGasUsed } } }"""
    )
    gas_used, gas_price = (int(totals["chainStatistics"].pop(k)) for k in ("totalGasUsed", "averageGasPrice"))
    assert gas_used > int(stats["totalGasUsed"]) and gas_price > 0
    assert totals["chainStatistics"] == {
        "id": "global",
        "totalChains": 1,
        "totalMails": 14,
        "totalPreparedMails": 2,
        "totalDelegations": 2,
        "totalUsers": 4,  # wallets 0-3 mailed or delegated; wallet 4 only owns a name
    }
    assert totals["chainStatisticss"]["items"] == [{"id": str(CHAIN), "totalMails": 14, "totalGasUsed": str(gas_used)}]

    logs = indexed.query(
        '{ eventLogs(where: {eventName: "DelegationSet"}, orderBy: "blockNumber") '
        "{ items { eventData contractAddress txFrom } totalCount } }"
    )["eventLogs"]
    assert logs["totalCount"] == 3
    assert json.loads(logs["items"][0]["eventData"]) == {"delegator": w[0], "delegate": w[3]}
    assert logs["items"][2]["txFrom"] == w[3] and logs["items"][0]["contractAddress"] == indexed.mailer
    fee = indexed.query('{ eventLogs(where: {eventName: "FeeUpdated"}) { items { eventData } } }')["eventLogs"]
    assert json.loads(fee["items"][0]["eventData"]) == {"oldFee": 100000, "newFee": str(10**30)}

    names = indexed.query(
        "query($o: String) { threeDnsNames(where: {owner: $o}) { items { name owner expiry } } }", {"o": w[4]}
    )
    assert names["threeDnsNames"]["items"] == [{"name": "example.com", "owner": w[4], "expiry": "2000000000"}]

    meta = indexed.query("{ _meta { status } }")["_meta"]["status"]
    (status,) = meta.values()
    assert status["id"] == CHAIN and status["block"]["number"] == indexed.anvil.head()


def test_the_endpoint_answers_at_root_and_graphql_by_get_and_post(indexed: Indexed) -> None:
    client = indexed.client
    page = client.simulate_get("/idx/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" in page.text and "src=" not in page.text  # nothing loaded from elsewhere
    assert "type Mail {" in page.text
    for path in ("/idx", "/idx/", "/idx/api/graphql"):
        assert client.simulate_get(path).status_code == 200
    got = client.simulate_get("/idx/graphql", params={"query": "{ mails(limit: 1) { totalCount } }"})
    assert got.status_code == 200 and got.json == {"data": {"mails": {"totalCount": 14}}}
    plain = client.simulate_post(
        "/idx/", body="{ preparedMails { totalCount } }", headers={"Content-Type": "application/graphql"}
    )
    assert plain.json == {"data": {"preparedMails": {"totalCount": 2}}}
    introspection = client.simulate_post("/idx/graphql", json={"query": get_introspection_query(descriptions=True)})
    assert "errors" not in introspection.json  # GraphiQL and code generators work within the limits
    assert "MailFilter" in {t["name"] for t in introspection.json["data"]["__schema"]["types"]}
    named = client.simulate_post(
        "/idx/graphql",
        json={"query": "query A { mails { totalCount } } query B { delegations { totalCount } }", "operationName": "B"},
    )
    assert named.json == {"data": {"delegations": {"totalCount": 2}}}
    assert (
        client.simulate_options(
            "/idx/graphql", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        ).status_code
        == 200
    )


CLIENT_GET_MAILS = """
  query GetMails($where: MailFilter, $first: Int, $skip: Int, $orderBy: String, $orderDirection: String) {
    mails(where: $where, first: $first, skip: $skip, orderBy: $orderBy, orderDirection: $orderDirection) {
      items { id chainId contractAddress from to subject body timestamp blockNumber transactionHash logIndex
              gasUsed gasPrice }
    }
  }"""


def test_the_indexer_clients_own_mail_query_works_as_sent(indexed: Indexed) -> None:
    """`IndexerGraphQLHelper.getMailsToAddress` of the indexer's client: its filter type name, `first`/`skip`."""
    variables = {
        "where": {"to": indexed.wallets[1], "chainId": CHAIN},
        "first": 3,
        "skip": 1,
        "orderBy": "timestamp",
        "orderDirection": "desc",
    }
    items = indexed.query(CLIENT_GET_MAILS, variables)["mails"]["items"]
    newest = indexed.query(CLIENT_GET_MAILS, {**variables, "first": 4, "skip": 0})["mails"]["items"]
    assert items == newest[1:]
    assert all(m["to"] == indexed.wallets[1] and m["chainId"] == CHAIN for m in items)
    both = indexed.client.simulate_post("/idx/graphql", json={"query": "{ mails(limit: 1, first: 2) { totalCount } }"})
    assert both.json["errors"][0]["message"] == "Cannot specify both limit and first."


# -- bad input ----------------------------------------------------------------------------------


def _errors(client: falcon.testing.TestClient, body: Any, status: int = 200, **kwargs: Any) -> str:
    if isinstance(body, str | bytes):
        got = client.simulate_post("/idx/graphql", body=body, **kwargs)
    else:
        got = client.simulate_post("/idx/graphql", json=body, **kwargs)
    assert got.status_code == status, got.text
    errors = got.json["errors"]
    assert errors and all(isinstance(e["message"], str) and e["message"] for e in errors)
    return " | ".join(e["message"] for e in errors)


BAD_QUERIES = [
    ("{ mails { items { id } ", "Syntax Error"),
    ("{ mails { items { nope } } }", "Cannot query field 'nope'"),
    ("{ letters { totalCount } }", "Cannot query field 'letters'"),
    ("{ mails(limit: 1001) { totalCount } }", "Invalid limit. Got 1001, expected <=1000."),
    ("{ mails(limit: -1) { totalCount } }", "Invalid limit"),
    ("{ mails(offset: -5) { totalCount } }", "Invalid offset"),
    ("{ mails(limit: 99999999999) { totalCount } }", "Int cannot represent"),
    ('{ mails(after: "bm90IGEgY3Vyc29y") { totalCount } }', "Invalid cursor"),
    ('{ mails(after: "%%%") { totalCount } }', "Invalid cursor"),
    ('{ mails(after: "eyJ0aW1lc3RhbXAiOiJ4In0=") { totalCount } }', "Invalid cursor"),
    ('{ mails(after: "a", before: "b") { totalCount } }', "Cannot specify both before and after cursors."),
    ('{ mails(after: "a", offset: 2) { totalCount } }', "Cannot specify both after cursor and offset."),
    ('{ mails(orderBy: "nope") { totalCount } }', 'Unknown column "nope" used in orderBy argument'),
    ('{ eventLogs(orderBy: "eventData") { totalCount } }', "cannot be used in orderBy"),
    ('{ mails(orderDirection: "sideways") { totalCount } }', "Invalid orderDirection"),
    ("{ mails(where: {nope: 1}) { totalCount } }", "nope"),
    ("{ mails(where: {feePaid_gt: true}) { totalCount } }", "feePaid_gt"),
    ('{ mails(where: {blockNumber_gt: "12x"}) { totalCount } }', "BigInt cannot represent"),
    ('{ mails(where: {blockNumber_gt: "99999999999999999999999"}) { totalCount } }', "out of range"),
    ("{ mails(where: {blockNumber_gt: 1.5}) { totalCount } }", "BigInt"),
    ('{ mails(where: {subject: "nul\\u0000"}) { totalCount } }', "cannot be stored"),
    ("{ mails(where: {subject_contains: null}) { totalCount } }", "cannot be null"),
    ("{ mails(where: {kind_in: null}) { totalCount } }", "needs a list"),
    ('{ mail(id: "a\\u0000") { id } }', "cannot be stored"),
    ("{ mail { id } }", "Argument 'Query.mail(id:)' of type 'String!' is required"),
    ("mutation { mails { totalCount } }", "mutation"),
    ("subscription { mails { totalCount } }", "subscription"),
    ("{ a: mails { totalCount } a: mails(limit: 1) { totalCount } }", "conflict"),
    ("fragment F on MailPage { ...F } { mails { ...F } }", "Cannot spread fragment 'F' within itself."),
    ("{ " + " ".join(f"a{i}: mails {{ totalCount }}" for i in range(31)) + " }", "Aliases limit of 30 exceeded"),
    ("{ mails { items { id } } }" + " " + "{ x }" * 400, "Document contains more than 1000 tokens"),
    ("{" * 300 + "}" * 300, "Syntax Error"),
    ("{a" * 300 + "}" * 300, "nested too deeply"),
    ("{ __schema { types { fields { type " + "{ ofType " * 19 + "{ name }" + " }" * 23, "depth limit of 20"),
]


def test_bad_queries_answer_200_with_graphql_errors(system: System) -> None:
    client = falcon.testing.TestClient(create_app(system))
    answers = {query: _errors(client, {"query": query}) for query, _ in BAD_QUERIES}
    assert [(q[:60], answers[q]) for q, expected in BAD_QUERIES if expected not in answers[q]] == []


def test_requests_that_are_not_graphql_answer_4xx_in_the_errors_shape(system: System) -> None:
    client = falcon.testing.TestClient(create_app(system))
    json_type = {"Content-Type": "application/json"}
    assert "invalid JSON" in _errors(client, "{nope", 400, headers=json_type)
    assert "JSON object" in _errors(client, "[1, 2]", 400, headers=json_type)
    assert "Must provide query string." in _errors(client, {}, 400)
    assert "Must provide query string." in _errors(client, {"query": 42}, 400)
    assert "variables" in _errors(client, {"query": "{ mails { totalCount } }", "variables": [1]}, 400)
    deep: Any = 1
    for _ in range(200):
        deep = {"AND": [deep]}
    assert "nest deeper" in _errors(client, {"query": "{ mails { totalCount } }", "variables": {"w": deep}}, 400)
    assert "UTF-8" in _errors(client, b"\xff\xfe{}", 400, headers=json_type)  # type: ignore[arg-type]
    assert "application/json" in _errors(client, "query=x", 415, headers={"Content-Type": "text/plain"})
    huge = json.dumps({"query": "{ mails { totalCount } }", "pad": "x" * (1024 * 1024)})
    assert "larger than" in _errors(client, huge, 413, headers=json_type)
    surrogate = {"query": "query($o: String) { mails(orderBy: $o) { totalCount } }", "variables": {"o": "\ud800"}}
    # a lone surrogate (or a NUL) is refused at the edge, as on every route
    assert "invalid JSON" in _errors(client, json.dumps(surrogate), 400, headers=json_type)
    nul = {"query": "query($o: String) { mails(orderBy: $o) { totalCount } }", "variables": {"o": "a\x00"}}
    assert "null characters" in _errors(client, nul, 400)
    bad_get = client.simulate_get("/idx/graphql", params={"query": "{ mails { totalCount } }", "variables": "{x"})
    assert bad_get.status_code == 400 and bad_get.json["errors"][0]["message"] == "Variables are invalid JSON."
    # variables are coerced with the schema's types: a nested AND/OR filter within the limits works
    ok = client.simulate_post(
        "/idx/graphql",
        json={
            "query": "query($w: MailFilter) { mails(where: $w) { totalCount } }",
            "variables": {"w": {"AND": [{"OR": [{"subject": "x"}, {"to": None}]}]}},
        },
    )
    assert ok.status_code == 200 and ok.json == {"data": {"mails": {"totalCount": 0}}}
    too_deep: Any = {"subject": "x"}
    for _ in range(20):
        too_deep = {"OR": [too_deep]}
    message = _errors(
        client, {"query": "query($w: MailFilter) { mails(where: $w) { totalCount } }", "variables": {"w": too_deep}}
    )
    assert "nested more than 16 deep" in message


_clients: dict[int, falcon.testing.TestClient] = {}  # one app per store for all of hypothesis' examples


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda field, arg, value: f"{{ {field}({arg}: {value}) {{ totalCount }} }}",
            st.sampled_from(["mails", "preparedMails", "delegations", "userStatisticss", "eventLogs"]),
            st.sampled_from(["limit", "offset", "after", "before", "orderBy", "orderDirection", "where"]),
            st.one_of(
                st.integers().map(str),
                st.text(max_size=30).map(json.dumps),
                st.sampled_from(["{id_gt: 1}", '{id_contains: "%"}', "{AND: {}}", "{OR: [{}]}", "null", "[]"]),
            ),
        ),
    ),
    variables=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5))),
)
def test_no_query_text_makes_a_500(system: System, query: str, variables: dict[str, Any] | None) -> None:
    client = _clients.get(id(system)) or _clients.setdefault(id(system), falcon.testing.TestClient(create_app(system)))
    got = client.simulate_post("/idx/graphql", json={"query": query, "variables": variables})
    assert got.status_code in (200, 400), got.text
    assert "data" in got.json or got.json["errors"]


def test_user_statistics_after_reverted_blocks_equal_a_fold_of_the_canonical_logs(system: System) -> None:
    """Folded through the chain context's commands: logs in blocks 100-102, then 101 onwards reverted."""
    chain = system.context(Chain)
    cursor = chain.cursor(5, 100)
    a, b, c = ("0x" + ch * 40 for ch in "abc")
    logs = []
    for number, (sender, to) in zip((100, 101, 102), ((a, b), (a, c), (b, a)), strict=True):
        logs.append(
            LogRecord(
                chain_id=5,
                contract="mailer",
                address="0x" + "11" * 20,
                event="MailSent",
                abi_version="current",
                block_number=number,
                block_hash=f"0x{number:064x}",
                block_time=1_700_000_000 + number,
                tx_hash=f"0x{number + 1:064x}",
                tx_index=0,
                log_index=0,
                args={"from": sender, "to": to, "payer": sender, "subject": "s", "body": "b"},
            )
        )
    headers = [[r.block_number, r.block_hash, f"0x{r.block_number - 1:064x}", r.block_time] for r in logs]
    chain.record_logs(cursor, logs, to_block=102, to_hash=logs[-1].block_hash, headers=headers)
    system.projections.catch_up_all()
    client = falcon.testing.TestClient(create_app(system))
    query = '{ userStatisticss(orderBy: "address") { items { address mailsSent mailsReceived lastMailTimestamp } } }'

    def stats() -> list[dict[str, Any]]:
        return client.simulate_post("/idx/graphql", json={"query": query}).json["data"]["userStatisticss"]["items"]

    assert stats() == [
        {"address": a, "mailsSent": 2, "mailsReceived": 1, "lastMailTimestamp": "1700000101"},
        {"address": b, "mailsSent": 1, "mailsReceived": 1, "lastMailTimestamp": "1700000102"},
        {"address": c, "mailsSent": 0, "mailsReceived": 1, "lastMailTimestamp": None},
    ]

    chain.revert_blocks(cursor, 101)
    system.projections.catch_up_all()

    after_revert = [
        {"address": a, "mailsSent": 1, "mailsReceived": 0, "lastMailTimestamp": "1700000100"},
        {"address": b, "mailsSent": 0, "mailsReceived": 1, "lastMailTimestamp": None},
    ]
    assert stats() == after_revert
    system.projections.replay("user_statistics")  # observations and the revert replayed in order
    assert stats() == after_revert
    totals = client.simulate_post(
        "/idx/graphql", json={"query": '{ chainStatistics(id: "global") { totalMails totalUsers } }'}
    )
    assert totals.json["data"]["chainStatistics"] == {"totalMails": 1, "totalUsers": 2}


def test_hex_in_filter_values_is_lower_cased_and_base58_keeps_its_case() -> None:
    from chainmail.projections.ponder_queries import hex_lowered

    assert hex_lowered("31337:0xABCdef:0") == "31337:0xabcdef:0"
    assert hex_lowered("0XAB") == "0xab"
    solana = "-102:7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
    assert hex_lowered(solana) == solana


# -- paging and filtering as a property ------------------------------------------------------------

SUBJECTS = ["alpha", "Alpha", "beta", "100%", "a_b", None, "", "ünïcode"]


def _mail_records(count: int) -> list[LogRecord]:
    """Mails over 4 blocks of one chain: timestamps repeat, subjects repeat and are sometimes null."""
    records = []
    for i in range(count):
        block = 10 + i // 5
        records.append(
            LogRecord(
                chain_id=7,
                contract="mailer",
                address="0x" + "11" * 20,
                event="MailSent",
                abi_version="current",
                block_number=block,
                block_hash=f"0x{block:064x}",
                block_time=1_700_000_000 + (block // 2) * 12,
                tx_hash=f"0x{i + 1:064x}",
                tx_index=i % 5,
                log_index=i % 5,
                args={
                    "from": "0x" + f"{i % 3:x}" * 40,
                    "to": "0x" + "e" * 40,
                    "payer": "0x" + f"{i % 3:x}" * 40,
                    "subject": SUBJECTS[i % len(SUBJECTS)],
                    "body": "b",
                },
            )
        )
    return records


@pytest.fixture
def property_client(system: System) -> falcon.testing.TestClient:
    chain = system.context(Chain)
    records = _mail_records(20)
    headers = []
    for r in records:
        if not headers or headers[-1][0] != r.block_number:
            headers.append([r.block_number, r.block_hash, f"0x{r.block_number - 1:064x}", r.block_time])
    chain.record_logs(chain.cursor(7, 10), records, to_block=13, to_hash=records[-1].block_hash, headers=headers)
    return falcon.testing.TestClient(create_app(system))


def _walk(client: falcon.testing.TestClient, args: str, limit: int, backwards: bool) -> list[str]:
    """Every id, page by page: forwards with `after`, or backwards from the end with `before`."""
    query = (
        "query($c: String) { mails(%s, limit: %d, %s: $c) "
        "{ items { id } pageInfo { startCursor endCursor hasNextPage hasPreviousPage } } }"
    )
    text = query % (args, limit, "before" if backwards else "after")
    if backwards:  # the last page first: walk forwards once to find its end cursor
        last = _walk(client, args, 1000, False)
        if not last:
            return []
        end = client.simulate_post("/idx/graphql", json={"query": query % (args, 1000, "after")}).json
        cursor = end["data"]["mails"]["pageInfo"]["endCursor"]
        seen = [last[-1]]
    else:
        cursor, seen = None, []
    while True:
        body = client.simulate_post("/idx/graphql", json={"query": text, "variables": {"c": cursor}}).json
        assert "errors" not in body, body
        page = body["data"]["mails"]
        ids = [m["id"] for m in page["items"]]
        assert len(ids) <= limit
        seen = ids + seen if backwards else seen + ids
        more = page["pageInfo"]["hasPreviousPage" if backwards else "hasNextPage"]
        if not more:
            return seen
        cursor = page["pageInfo"]["startCursor" if backwards else "endCursor"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order_by=st.sampled_from(["timestamp", "subject", "from", "blockNumber", "id", "logIndex", None]),
    direction=st.sampled_from(["asc", "desc"]),
    limit=st.integers(1, 6),
    needle=st.sampled_from([None, "a", "A", "%", "_", "lpha", "ü", ""]),
    backwards=st.booleans(),
)
def test_cursor_walks_meet_one_big_page_and_filters_match_python(
    property_client: falcon.testing.TestClient,
    order_by: str | None,
    direction: str,
    limit: int,
    needle: str | None,
    backwards: bool,
) -> None:
    where = f"where: {{subject_contains: {json.dumps(needle)}}}" if needle is not None else "where: {}"
    ordering = f'orderBy: "{order_by}", orderDirection: "{direction}"' if order_by else f'orderDirection: "{direction}"'
    args = f"{where}, {ordering}"
    fields = "id subject timestamp from blockNumber logIndex chainId"
    query = f"{{ mails({args}, limit: 1000) {{ items {{ {fields} }} totalCount }} }}"
    body = property_client.simulate_post("/idx/graphql", json={"query": query}).json
    everything = body["data"]["mails"]
    expected = [
        r
        for r in _mail_records(20)
        if needle is None or (r.args["subject"] is not None and needle in r.args["subject"])
    ]
    assert everything["totalCount"] == len(expected) == len(everything["items"])
    items = everything["items"]
    keys = {
        "timestamp": lambda m: int(m["timestamp"]),
        "subject": lambda m: (m["subject"] is not None, m["subject"] or ""),
        "from": lambda m: m["from"],
        "blockNumber": lambda m: int(m["blockNumber"]),
        "logIndex": lambda m: m["logIndex"],
    }
    natural = lambda m: (m["chainId"], int(m["blockNumber"]), m["logIndex"])  # noqa: E731
    first = keys.get(order_by or "id")
    sort_key = (lambda m: (first(m), natural(m))) if first else natural
    assert items == sorted(items, key=sort_key, reverse=direction == "desc")
    assert _walk(property_client, args, limit, backwards) == [m["id"] for m in items]


def test_fields_asked_through_fragments_and_aliases_answer_as_asked_directly(
    property_client: falcon.testing.TestClient,
) -> None:
    """Only the fields a query asks for are read: those asked through fragments, aliases and cursors too."""
    fields = "id chainId from to subject body timestamp blockNumber logIndex transactionHash gasUsed kind"
    direct = f'{{ mails(orderBy: "subject", limit: 7) {{ items {{ {fields} }} pageInfo {{ endCursor }} }} }}'
    spread = (
        '{ mails(orderBy: "subject", limit: 7) { items { ...Head ... on Mail { subject body timestamp '
        "blockNumber } logIndex transactionHash gasUsed kind } ...Paging } }"
        " fragment Head on Mail { id chainId from to }"
        " fragment Paging on MailPage { pageInfo { endCursor } }"
    )
    aliased = '{ mails(orderBy: "subject", limit: 7) { items { first: subject again: subject } } }'

    def data(text: str) -> Any:
        body = property_client.simulate_post("/idx/graphql", json={"query": text}).json
        assert "errors" not in body, body
        return body["data"]["mails"]

    expected = data(direct)
    assert data(spread) == expected
    assert (
        [m["subject"] for m in expected["items"]]
        == [m["first"] for m in data(aliased)["items"]]
        == [m["again"] for m in data(aliased)["items"]]
    )
    # a page that asks for no field of its items still pages (its cursor reads the ordering's columns)
    bare = data('{ mails(orderBy: "subject", limit: 7) { pageInfo { endCursor } } }')
    assert bare["pageInfo"] == expected["pageInfo"]


def test_public_queries_run_read_only_with_a_statement_time_limit(system: System) -> None:
    if system.engine.dialect.name == "sqlite":
        assert system.query_engine is system.engine  # SQLite has no statement timeout to set
        return
    with system.query_engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "10s"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            conn.exec_driver_sql("CREATE TABLE nothing_here (x int)")


COUNTED_FILTERS = [
    "{}",
    '{from: "0x' + "1" * 40 + '"}',
    '{to: "0x' + "E" * 40 + '"}',  # hex compares lower-cased, as the mails keep it
    '{from: "0x' + "2" * 40 + '", chainId: 7}',
    '{to: "0x' + "e" * 40 + '", chainId: 8}',
    '{from: "0x' + "0" * 40 + '", kind: "direct"}',
    '{kind: "prepared"}',  # not a kind of `mails`
    '{from: "0x' + "9" * 40 + '"}',  # no such wallet
    # filters the kept counts cannot answer: the rows are counted
    '{from: "0x' + "1" * 40 + '", to: "0x' + "e" * 40 + '"}',
    '{from_in: ["0x' + "1" * 40 + '"]}',
    '{from: "0x' + "1" * 40 + '", payer: "0x' + "1" * 40 + '"}',
    "{to: null}",
    '{OR: [{from: "0x' + "1" * 40 + '"}, {from: "0x' + "2" * 40 + '"}]}',
]


def _total_and_listed(client: falcon.testing.TestClient, entity: str, where: str) -> tuple[int, int]:
    query = f"{{ {entity}(where: {where}, limit: 1000) {{ items {{ id }} totalCount }} }}"
    body = client.simulate_post("/idx/graphql", json={"query": query}).json
    assert "errors" not in body, body
    return body["data"][entity]["totalCount"], len(body["data"][entity]["items"])


def test_total_count_is_exact_with_and_without_filters_through_reverts_and_replays(
    system: System, property_client: falcon.testing.TestClient
) -> None:
    """totalCount (read from the counts kept with the mails where it can be) equals the rows listed: for all
    mails, a wallet's, on one chain or of one kind, after blocks are reverted and after a replay."""

    chain = system.context(Chain)
    prepared = [  # and prepared mails on a second chain, two to no wallet (to an e-mail address)
        LogRecord(
            chain_id=8,
            contract="mailer",
            address="0x" + "11" * 20,
            event="PreparedMailSent" if i < 3 else "PreparedMailSentToEmail",
            abi_version="current",
            block_number=20,
            block_hash=f"0x{20:064x}",
            block_time=1_700_000_000,
            tx_hash=f"0x{100 + i:064x}",
            tx_index=i,
            log_index=i,
            args={"from": "0x" + "1" * 40, "payer": "0x" + "1" * 40, "mailId": "0x" + "ab" * 32}
            | ({"to": "0x" + "e" * 40} if i < 3 else {"toEmail": "x@example.com"}),
        )
        for i in range(5)
    ]
    header = [20, prepared[0].block_hash, f"0x{19:064x}", 1_700_000_000]
    chain.record_logs(chain.cursor(8, 20), prepared, to_block=20, to_hash=prepared[0].block_hash, headers=[header])
    assert _total_and_listed(property_client, "preparedMails", '{to: "0x' + "e" * 40 + '"}') == (3, 3)

    def check(expected_mails: int) -> None:
        assert _total_and_listed(property_client, "mails", "{}") == (expected_mails, expected_mails)
        for where in COUNTED_FILTERS:
            for entity in ("mails", "preparedMails"):
                total, listed = _total_and_listed(property_client, entity, where)
                assert total == listed, (entity, where)

    check(20)
    chain.revert_blocks(chain.cursor(7, 10), 12)  # blocks 12 and 13: the last ten mails
    check(10)
    system.projections.replay("evm_mails")
    check(10)
    assert _total_and_listed(property_client, "mails", '{from: "0x' + "1" * 40 + '"}') == (3, 3)
    assert _total_and_listed(property_client, "preparedMails", '{from: "0x' + "1" * 40 + '"}') == (5, 5)


def test_a_query_text_is_checked_once_and_answers_each_requests_variables(
    property_client: falcon.testing.TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chainmail.http.idx.graphql as endpoint

    checked: list[str] = []
    validate = endpoint.validate
    monkeypatch.setattr(
        endpoint, "validate", lambda schema, document: checked.append("x") or validate(schema, document)
    )
    text = "query($n: Int) { mails(limit: $n) { items { id } } }"
    for n in (1, 2, 3):
        body = property_client.simulate_post("/idx/graphql", json={"query": text, "variables": {"n": n}}).json
        assert len(body["data"]["mails"]["items"]) == n
    bad = "{ mails { nothing } }"
    for _ in range(2):
        body = property_client.simulate_post("/idx/graphql", json={"query": bad}).json
        assert body["errors"][0]["message"] == "Cannot query field 'nothing' on type 'MailPage'."
    assert len(checked) == 2  # once per text, whatever its variables
