"""Solana ingestion through Helius webhooks: real transactions (solders keypairs, signatures and message
encoding) wrapped in raw and enhanced deliveries, into the chain read models the EVM logs use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import func, select

from chainmail.config import Settings
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.solana import MAINNET, SOLANA_NETWORKS
from chainmail.http.app import create_app
from chainmail.indexer.solana.borsh import b58encode
from chainmail.indexer.solana.settings import SolanaNetworkSettings, SolanaSettings
from chainmail.indexer.solana.synthetic import (
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    MailerTransaction,
    claim_account,
    delegation_account,
)
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.chain_mails import evm_mails, mails_of
from chainmail.projections.delegations import delegation_history
from chainmail.store.events import max_notification_id
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.helius_fake import FakeHelius
from tests.integration.identity_wallets import SolanaWallet, sign_in_headers
from tests.local_http import serving

PROGRAM = SOLANA_NETWORKS[MAINNET].program_id
SECRET = "static-secret-for-tests"
AUTH = {"Authorization": SECRET}


def _settings(database_url: str, **solana: Any) -> Settings:
    config = {"networks": {MAINNET: SolanaNetworkSettings(auth_header=SECRET)}, **solana}
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        solana=SolanaSettings(**config),
    )


@pytest.fixture
def system(database_url: str) -> Iterator[System]:
    system = System(_settings(database_url, dev_mode=True))
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


def _mail(signer: Keypair, instruction: str, slot: int = 10, **kwargs: Any) -> MailerTransaction:
    to = Keypair().pubkey()
    mail_accounts = [claim_account(PROGRAM, to), Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()]
    mail_accounts += [TOKEN_PROGRAM, SYSTEM_PROGRAM]
    flags = {"revenueShareToReceiver": True, "resolveSenderToName": False}
    table = {
        "Send": ({"to": str(to), "subject": "Hello ☃", "body": "On chain", **flags}, mail_accounts),
        "SendPrepared": ({"to": str(to), "mailId": "mail-42", **flags}, mail_accounts),
        "SendToEmail": ({"toEmail": "bob@example.com", "subject": "Hi", "body": "B"}, mail_accounts[1:5]),
        "SendPreparedToEmail": ({"toEmail": "bob@example.com", "mailId": "m-7"}, mail_accounts[1:5]),
        "SendThroughWebhook": ({"to": str(to), "webhookId": "hook-1", **flags}, mail_accounts),
    }
    args, accounts = table[instruction]
    return MailerTransaction(PROGRAM, signer, instruction, args, accounts, slot=slot, **kwargs)


def _delegation(signer: Keypair, instruction: str, delegator: Pubkey, slot: int, **args: Any) -> MailerTransaction:
    accounts = [delegation_account(PROGRAM, delegator), Pubkey.new_unique()]
    return MailerTransaction(PROGRAM, signer, instruction, args, accounts, slot=slot)


def _post(client: falcon.testing.TestClient, body: Any, headers: dict | None = None, prefix: str = "/idx") -> Any:
    return client.simulate_post(f"{prefix}/solana/webhook", json=body, headers=AUTH if headers is None else headers)


def _count(system: System, table: Any) -> int:
    with system.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_raw_delivery_records_every_kind_of_solana_mail_in_the_chain_read_models(
    system: System, client: falcon.testing.TestClient
) -> None:
    alice = Keypair()
    sends = [
        _mail(alice, "Send", slot=10),
        _mail(alice, "SendPrepared", slot=11, fee_paid=False),
        _mail(alice, "SendToEmail", slot=11),
        _mail(alice, "SendPreparedToEmail", slot=12),
        # called through another program: an inner instruction
        _mail(alice, "SendThroughWebhook", slot=12, through=Pubkey.new_unique()),
    ]

    got = _post(client, [tx.raw() for tx in sends])

    assert got.status_code == 200, got.text
    assert got.json["success"] is True
    assert got.json["data"]["processed"] == 5 and got.json["data"]["total"] == 5
    assert got.json["processed"] == 5 and got.json["total"] == 5  # older clients read them at the top
    with system.engine.connect() as conn:
        rows = {row["tx_hash"]: row for row in mails_of(conn, chain_id=MAINNET)}
    assert set(rows) == {tx.signature for tx in sends}
    direct = rows[sends[0].signature]
    assert direct["kind"] == "direct" and direct["sender"] == str(alice.pubkey()) == direct["payer"]
    assert direct["recipient"] == sends[0].args["to"] and direct["subject"] == "Hello ☃"
    assert direct["body"] == "On chain" and direct["revenue_share"] is True and direct["fee_paid"] is True
    assert direct["address"] == PROGRAM and direct["block_number"] == 10 and direct["abi_version"] == "solana"
    prepared = rows[sends[1].signature]
    assert prepared["kind"] == "prepared" and prepared["mail_id"] == "mail-42" and prepared["fee_paid"] is False
    assert prepared["mail_id_hash"].startswith("0x") and len(prepared["mail_id_hash"]) == 66
    assert rows[sends[2].signature]["to_email"] == "bob@example.com"
    assert rows[sends[3].signature]["kind"] == "prepared_email" and rows[sends[3].signature]["mail_id"] == "m-7"
    webhook = rows[sends[4].signature]
    assert webhook["kind"] == "webhook" and webhook["webhook_id"] == "hook-1"
    # every instruction is in the event log too, under its signature
    with system.engine.connect() as conn:
        logged = conn.execute(select(evm_event_log).where(evm_event_log.c.chain_id == MAINNET)).all()
    assert {r.tx_hash for r in logged} == {tx.signature for tx in sends}


def test_an_enhanced_delivery_reads_top_level_and_inner_instructions(
    system: System, client: falcon.testing.TestClient
) -> None:
    bob = Keypair()
    top, inner = _mail(bob, "Send", slot=20), _mail(bob, "SendPrepared", slot=21, through=Pubkey.new_unique())

    got = _post(client, [top.enhanced(), inner.enhanced()])

    assert got.status_code == 200, got.text
    with system.engine.connect() as conn:
        rows = {row["tx_hash"]: row for row in mails_of(conn, chain_id=MAINNET)}
    assert rows[top.signature]["subject"] == "Hello ☃" and rows[inner.signature]["mail_id"] == "mail-42"
    # enhanced payloads carry no logs: the fee counts as paid, as on the EVM before feePaid existed
    assert rows[top.signature]["fee_paid"] is True


def test_a_redelivered_webhook_changes_nothing(system: System, client: falcon.testing.TestClient) -> None:
    carol = Keypair()
    delivery = [_mail(carol, "Send", slot=30).raw(), _mail(carol, "SendToEmail", slot=31).raw()]
    first = _post(client, delivery)
    with system.engine.connect() as conn:
        position = max_notification_id(conn, Chain.name)
    mails, events = _count(system, evm_mails), _count(system, evm_event_log)

    again = _post(client, delivery)
    # the same transaction delivered in the other shape is the same transaction
    enhanced = _post(client, [_enhanced_of(delivery[0])])

    assert first.json["data"]["recorded"] == 2
    assert again.status_code == 200 and again.json["data"]["recorded"] == 0
    assert again.json["data"]["duplicates"] == 2 and again.json["data"]["processed"] == 2
    assert enhanced.status_code == 200 and enhanced.json["data"]["recorded"] == 0
    with system.engine.connect() as conn:
        assert max_notification_id(conn, Chain.name) == position
    assert (_count(system, evm_mails), _count(system, evm_event_log)) == (mails, events)


def _enhanced_of(raw: dict[str, Any]) -> dict[str, Any]:
    keys = raw["transaction"]["message"]["accountKeys"]
    ix = raw["transaction"]["message"]["instructions"][0]
    instruction = {"programId": keys[ix["programIdIndex"]], "accounts": [keys[a] for a in ix["accounts"]]}
    return {
        "signature": raw["transaction"]["signatures"][0],
        "slot": raw["slot"],
        "timestamp": raw["blockTime"],
        "transactionError": None,
        "instructions": [{**instruction, "data": ix["data"], "innerInstructions": []}],
    }


def test_failed_transactions_are_skipped_even_when_their_data_is_garbage(
    system: System, client: falcon.testing.TestClient
) -> None:
    dave = Keypair()
    failed = _mail(dave, "Send", slot=40, failed=True)
    garbage = failed.raw()
    garbage["transaction"]["message"]["instructions"][0]["data"] = b58encode(b"\x01\x02")  # truncated Borsh
    ok = _mail(dave, "SendToEmail", slot=41)

    got = _post(client, [garbage, failed.enhanced(), ok.raw()])

    assert got.status_code == 200, got.text
    assert {"processed": 1, "total": 3, "recorded": 1}.items() <= got.json["data"].items()
    with system.engine.connect() as conn:
        assert [r["tx_hash"] for r in mails_of(conn, chain_id=MAINNET)] == [ok.signature]


def test_delegations_set_rejected_and_cleared_on_solana_answer_the_delegation_routes(
    system: System, client: falcon.testing.TestClient
) -> None:
    alice, bob, mallory = SolanaWallet(), SolanaWallet(), SolanaWallet()
    delegator = alice.keypair.pubkey()
    delegate_to = _delegation(alice.keypair, "DelegateTo", delegator, 50, delegate=bob.address)
    assert _post(client, [delegate_to.raw()]).status_code == 200

    given = client.simulate_get(f"/idx/delegations/from/{alice.address}", headers=sign_in_headers(client, alice))
    received = client.simulate_get(f"/idx/delegations/to/{bob.address}", headers=sign_in_headers(client, bob))

    assert given.status_code == 200, given.text
    assert given.json["data"] == {
        "walletAddress": bob.address,
        "chainType": "solana",
        "chainId": MAINNET,
        "txHash": delegate_to.signature,
    }
    assert received.json["data"]["from"][0]["walletAddress"] == alice.address
    # a stranger's RejectDelegation naming alice's delegation account clears nothing
    stranger = _delegation(mallory.keypair, "RejectDelegation", delegator, 51)
    assert _post(client, [stranger.raw()]).status_code == 200
    still = client.simulate_get(f"/idx/delegations/from/{alice.address}", headers=sign_in_headers(client, alice))
    assert still.json["data"]["walletAddress"] == bob.address
    # the delegate's own rejection clears it
    rejected = _delegation(bob.keypair, "RejectDelegation", delegator, 52)
    assert _post(client, [rejected.raw()]).status_code == 200
    cleared = client.simulate_get(f"/idx/delegations/from/{alice.address}", headers=sign_in_headers(client, alice))
    assert cleared.json["data"] is None
    with system.engine.connect() as conn:
        effects = [row["effect"] for row in delegation_history(conn, alice.address, MAINNET)]
    assert effects == ["set", "ignored", "cleared"]
    # delegating again, then clearing with DelegateTo(None)
    again = _delegation(alice.keypair, "DelegateTo", delegator, 53, delegate=bob.address)
    clear = _delegation(alice.keypair, "DelegateTo", delegator, 54, delegate=None)
    assert _post(client, [again.raw(), clear.enhanced()]).status_code == 200
    final = client.simulate_get(f"/idx/delegations/to/{bob.address}", headers=sign_in_headers(client, bob))
    assert final.json["data"] == {"from": []}


def test_a_rejection_of_an_unseen_delegation_is_kept_in_the_event_log_only(
    system: System, client: falcon.testing.TestClient
) -> None:
    bob = Keypair()
    unseen = _delegation(bob, "RejectDelegation", Keypair().pubkey(), 60)

    assert _post(client, [unseen.raw()]).status_code == 200

    with system.engine.connect() as conn:
        names = conn.execute(select(evm_event_log.c.event_name).where(evm_event_log.c.chain_id == MAINNET)).all()
    assert [n.event_name for n in names] == ["DelegationRejected"]


def test_a_delivery_without_the_webhook_secret_is_refused(system: System, client: falcon.testing.TestClient) -> None:
    for authorization in (None, "", "wrong-secret", SECRET.upper(), "Bearer " + SECRET):
        headers = {} if authorization is None else {"Authorization": authorization}
        got = _post(client, [_mail(Keypair(), "Send").raw()], headers=headers)

        assert got.status_code == 403, authorization
        assert got.json["success"] is False and got.json["code"] == "FORBIDDEN"
    assert _count(system, evm_mails) == 0


def _bad_payloads() -> dict[str, Any]:
    tx = _mail(Keypair(), "Send", slot=70)
    raw = tx.raw()

    def changed(path: list[Any], value: Any, item: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        import copy

        copied = copy.deepcopy(item or raw)
        target = copied
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return [copied, _mail(Keypair(), "SendToEmail", slot=71).raw()]

    ix = ["transaction", "message", "instructions", 0]
    data = raw["transaction"]["message"]["instructions"][0]["data"]
    return {
        "an object, not an array": {"transactions": [raw]},
        "a string": "hello",
        "an item that is a number": [1],
        "an item of neither shape": [{"foo": "bar"}],
        "a garbage base58 signature": changed(["transaction", "signatures", 0], "0OIl" * 22),
        "a short signature": changed(["transaction", "signatures", 0], "1111"),
        "garbage base58 data": changed([*ix, "data"], "0OIl"),
        "truncated Borsh": changed([*ix, "data"], b58encode(b"\x01" + bytes(40))),
        "trailing bytes": changed([*ix, "data"], data + "2"),
        "an unknown instruction variant": changed([*ix, "data"], b58encode(b"\x63")),
        "an account index out of range": changed([*ix, "accounts"], [0, 200]),
        "a program index out of range": changed([*ix, "programIdIndex"], 99),
        "a negative slot": changed(["slot"], -1),
        "a garbage account key": changed(["transaction", "message", "accountKeys", 0], "not-a-key"),
        "an enhanced item with garbage data": [
            {**tx.enhanced(), "instructions": [{"programId": PROGRAM, "data": "0"}]}
        ],
        "an enhanced item with a bad program id": [{**tx.enhanced(), "instructions": [{"programId": "x", "data": ""}]}],
    }


def test_bad_payloads_are_a_400_and_record_nothing(system: System, client: falcon.testing.TestClient) -> None:
    for case, body in _bad_payloads().items():
        got = _post(client, body)

        assert got.status_code == 400, (case, got.text)
        assert got.json["success"] is False and got.json["code"] == "INVALID_PAYLOAD" and got.json["error"], case
    assert _count(system, evm_mails) == 0 and _count(system, evm_event_log) == 0


def test_a_body_that_is_not_json_is_a_400(client: falcon.testing.TestClient) -> None:
    got = client.simulate_post("/idx/solana/webhook", body=b"[{", headers={**AUTH, "Content-Type": "application/json"})

    assert got.status_code == 400 and got.json["code"] == "INVALID_PAYLOAD"


def test_the_routes_answer_under_the_legacy_api_prefix_too(system: System, client: falcon.testing.TestClient) -> None:
    got = _post(client, [_mail(Keypair(), "Send").raw()], prefix="/idx/api")
    status = client.simulate_get("/idx/api/solana/status")

    assert got.status_code == 200 and got.json["data"]["recorded"] == 1
    assert status.status_code == 200


@pytest.fixture
def helius() -> Iterator[FakeHelius]:
    fake = FakeHelius(api_key="helius-key")
    with serving(fake.Handler) as fake.url:
        yield fake


def test_setup_webhooks_creates_then_updates_the_helius_webhook_and_its_secret_opens_the_webhook(
    database_url: str, helius: FakeHelius
) -> None:
    settings = Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        enable_testnets=True,
        solana=SolanaSettings(
            helius_api_key="helius-key", helius_base_url=helius.url, api_url="https://api.example.com/idx"
        ),
    )
    system = System(settings)
    try:
        client = falcon.testing.TestClient(create_app(system))
        created = client.simulate_post("/idx/solana/setup-webhooks")

        assert created.status_code == 200, created.text
        results = {r["chainId"]: r for r in created.json["data"]["results"]}
        assert results["-101"]["status"] == "success" and results["-101"]["action"] == "created"
        assert results["-102"]["status"] == "success"
        assert results["-103"]["status"] == "error"  # Helius serves no testnet
        hooks = {w["webhookType"]: w for w in helius.webhooks.values()}
        assert set(hooks) == {"raw", "rawDevnet"}
        mainnet = hooks["raw"]
        assert mainnet["webhookURL"] == "https://api.example.com/idx/solana/webhook"
        assert mainnet["accountAddresses"] == [PROGRAM] and mainnet["transactionTypes"] == ["ANY"]
        assert hooks["rawDevnet"]["accountAddresses"] == [SOLANA_NETWORKS[-102].program_id]
        first_secret = mainnet["authHeader"]
        assert len(first_secret) >= 32 and first_secret != hooks["rawDevnet"]["authHeader"]

        # Helius now delivers with the secret it was given
        sent = _mail(Keypair(), "Send", slot=80)
        delivered = _post(client, [sent.raw()], headers={"Authorization": first_secret})
        assert delivered.status_code == 200 and delivered.json["data"]["chainId"] == MAINNET
        devnet_secret = hooks["rawDevnet"]["authHeader"]
        on_devnet = client.simulate_post(
            "/idx/solana/webhook", json=[sent.raw()], headers={"Authorization": devnet_secret}
        )
        assert on_devnet.json["data"]["chainId"] == -102 and on_devnet.json["data"]["recorded"] == 0

        status = client.simulate_get("/idx/solana/status").json["data"]
        by_id = {n["chainId"]: n for n in status["solanaIndexers"]}
        assert status["configured"] is True and status["totalIndexers"] == 3
        assert by_id[MAINNET]["initialized"] is True and by_id[MAINNET]["webhookId"] == mainnet["webhookID"]
        assert by_id[MAINNET]["lastSlot"] == 80 and by_id[MAINNET]["instructions"] == 1
        assert by_id[-103]["initialized"] is False and by_id[-103]["networkName"] == "testnet"

        # a second setup updates the same webhooks with new secrets; the one before stays valid meanwhile
        updated = client.simulate_post("/idx/solana/setup-webhooks")
        assert {r["action"] for r in updated.json["data"]["results"] if r["status"] == "success"} == {"updated"}
        assert len(helius.webhooks) == 2
        second_secret = helius.webhooks[mainnet["webhookID"]]["authHeader"]
        assert second_secret != first_secret
        for secret in (first_secret, second_secret):
            assert _post(client, [], headers={"Authorization": secret}).status_code == 200
        client.simulate_post("/idx/solana/setup-webhooks")
        assert _post(client, [], headers={"Authorization": first_secret}).status_code == 403
        assert all(r[0] != "DELETE" for r in helius.requests)
    finally:
        system.close()


def test_setup_webhooks_is_internal_and_needs_a_helius_key(database_url: str, helius: FakeHelius) -> None:
    system = System(_settings(database_url))
    try:
        client = falcon.testing.TestClient(create_app(system))
        unconfigured = client.simulate_post("/idx/solana/setup-webhooks")
        outsider = client.simulate_post("/idx/solana/setup-webhooks", remote_addr="203.0.113.9")
        assert unconfigured.status_code == 503 and unconfigured.json["code"] == "SOLANA_NOT_CONFIGURED"
        assert outsider.status_code == 403 and outsider.json["code"] == "IP_NOT_ALLOWED"
    finally:
        system.close()
    wrong_key = System(_settings(database_url, helius_api_key="not-the-key", helius_base_url=helius.url))
    try:
        client = falcon.testing.TestClient(create_app(wrong_key))
        refused = client.simulate_post("/idx/solana/setup-webhooks")
        assert refused.status_code == 200
        assert refused.json["data"]["results"][0]["status"] == "error"
        assert "401" in refused.json["data"]["results"][0]["error"]
        assert helius.webhooks == {}
    finally:
        wrong_key.close()


def test_status_lists_the_networks_indexed(system: System, client: falcon.testing.TestClient) -> None:
    got = client.simulate_get("/idx/solana/status")

    assert got.status_code == 200
    data = got.json["data"]
    assert data["configured"] is False and data["totalIndexers"] == 1  # testnets are off
    expected = {"chainId": MAINNET, "networkName": "mainnet-beta", "initialized": True}
    assert expected.items() <= data["solanaIndexers"][0].items()


def test_a_test_transaction_goes_through_the_webhook_pipeline_in_development(
    system: System, client: falcon.testing.TestClient
) -> None:
    kinds = ["mail_sent", "prepared_mail_sent", "mail_sent_to_email", "prepared_mail_sent_to_email"]
    signatures = []
    for event_type in [*kinds, "webhook_mail_sent"]:
        got = client.simulate_post("/idx/solana/test-transaction", json={"chainId": -1, "eventType": event_type})

        assert got.status_code == 200, got.text
        assert got.json["data"]["message"] and got.json["data"]["recorded"] == 1
        signatures.append(got.json["data"]["signature"])
    with system.engine.connect() as conn:
        rows = mails_of(conn, chain_id=MAINNET)
    assert {r["tx_hash"] for r in rows} == set(signatures)
    assert [r["block_number"] for r in rows] == [1, 2, 3, 4, 5]  # each after the last slot seen


def test_a_test_delegation_shows_in_the_delegation_read_model(
    system: System, client: falcon.testing.TestClient
) -> None:
    got = client.simulate_post("/idx/solana/test-transaction", json={"eventType": "delegation_set"})

    assert got.status_code == 200, got.text
    with system.engine.connect() as conn:
        rows = conn.execute(select(evm_event_log.c.event_name, evm_event_log.c.tx_from)).all()
    assert [r.event_name for r in rows] == ["DelegationSet"]
    with system.engine.connect() as conn:
        assert delegation_history(conn, rows[0].tx_from, MAINNET)[0]["effect"] == "set"


def test_a_bad_test_transaction_is_a_400(client: falcon.testing.TestClient) -> None:
    bodies = [{"eventType": "nonsense"}, {"chainId": "x"}, {"chainId": -102}, {"chainId": 1}, {"transaction": "x"}]
    bodies.append({"transaction": {"signature": "x"}})
    for body in bodies:
        got = client.simulate_post("/idx/solana/test-transaction", json=body)

        assert got.status_code == 400, (body, got.text)
        assert got.json["success"] is False


def test_test_transactions_are_refused_in_production(database_url: str) -> None:
    system = System(_settings(database_url))
    try:
        client = falcon.testing.TestClient(create_app(system))
        got = client.simulate_post("/idx/solana/test-transaction", json={"eventType": "mail_sent"})
        assert got.status_code == 403 and got.json["code"] == "FORBIDDEN"
        assert _count(system, evm_mails) == 0
    finally:
        system.close()


def test_the_same_delivery_posted_twice_at_once_is_recorded_once(system: System) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from chainmail.indexer.solana.ingest import SolanaIngestion

    ingestion = SolanaIngestion(system)
    network = ingestion.networks[MAINNET]
    delivery = [_mail(Keypair(), "Send", slot=90 + i).raw() for i in range(5)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ingestion.ingest(network, delivery), range(4)))

    assert sorted(r.recorded for r in results) == [0, 0, 0, 5]
    assert _count(system, evm_mails) == 5
    with system.engine.connect() as conn:
        assert [r["log_index"] for r in mails_of(conn, chain_id=MAINNET)] == [0, 1, 2, 3, 4]
