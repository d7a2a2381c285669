"""Indexing a real anvil chain: every Mailer and 3DNS event lands in its read model, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from eth_utils import keccak
from sqlalchemy import func, select

from chainmail.domain.chain.abi import FEE_PAID_NO_PAYER, NO_FEE_PAID
from chainmail.projections.chain_gas import evm_transaction_gas, gas_totals, transaction_gas
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.chain_mails import claimable_share, fee_settings, mails_of, wallet_statistics
from chainmail.projections.chain_names import names_owned_by
from chainmail.projections.delegations import delegated_to, delegation_history, delegators_of
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.chain.harness import index, read_models, rows, spec_for

ZERO = "0x" + "00" * 20


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    node = Anvil()
    yield node
    node.stop()


def test_every_current_mailer_event_lands_in_its_read_model(system: System, anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    f = mailer.contract.functions
    alice, bob, carol = (a.lower() for a in anvil.accounts[:3])
    a = anvil.accounts
    anvil.send(f.send(a[1], "Hello", "First mail", a[0], True, True, True), 0)
    anvil.send(f.send(a[1], "Unpaid", "No fee", a[0], False, False, False), 0)
    anvil.send(f.sendPrepared(a[1], "prepared-mail-42", a[0], False, True), 0)
    anvil.send(f.sendToEmail("someone@example.com", "Subject", "Body", a[0]), 0)
    anvil.send(f.sendPreparedToEmail("other@example.com", "prepared-email-7", a[0]), 0)
    anvil.send(f.sendThroughWebhook(a[2], "webhook-🚀-1", a[0], True, False), 0)
    anvil.send(f.setFee(200000), 0)
    anvil.send(f.setDelegationFee(5000000), 0)
    anvil.send(f.claimRecipientShare(40000), 1)
    anvil.send(f.claimOwnerShare(1000), 0)
    anvil.send(f.claimExpiredShares(a[2], 5), 0)
    anvil.send(f.pause(), 0)
    anvil.send(f.unpause(), 0)
    anvil.send(f.emergencyUnpause(), 0)
    anvil.send(f.setFeePaused(True), 0)
    anvil.send(f.distributeClaimableFunds(a[1], 7), 0)
    anvil.send(f.setCustomFeePercentage(a[2], 50), 0)
    anvil.send(f.setPermission(a[3], True), 0)
    anvil.send(f.setPermission(a[3], False), 0)

    head = index(system, spec_for(anvil, [mailer.address]))

    assert head == anvil.head()
    with system.engine.connect() as conn:
        mails = mails_of(conn, 31337)
        assert [m["kind"] for m in mails] == ["direct", "direct", "prepared", "email", "prepared_email", "webhook"]
        first, unpaid, prepared, email, prepared_email, webhook = mails
        assert (first["sender"], first["payer"], first["recipient"]) == (alice, alice, bob)
        assert (first["subject"], first["body"], first["revenue_share"], first["resolve_sender_to_name"]) == (
            "Hello",
            "First mail",
            True,
            True,
        )
        assert first["fee_paid"] is True and unpaid["fee_paid"] is False
        assert prepared["mail_id"] == "prepared-mail-42"
        assert prepared["mail_id_hash"] == "0x" + keccak(text="prepared-mail-42").hex()
        assert (email["to_email"], email["subject"], email["body"]) == ("someone@example.com", "Subject", "Body")
        assert (prepared_email["to_email"], prepared_email["mail_id"]) == ("other@example.com", "prepared-email-7")
        assert (webhook["recipient"], webhook["webhook_id"]) == (carol, "webhook-🚀-1")
        assert first["block_time"] > 0 and first["tx_hash"].startswith("0x")

        # 90% of 0.1 USDC recorded for bob, 40000 claimed; 10% for the owner, 1000 claimed
        assert claimable_share(conn, 31337, bob) == 90000 - 40000
        assert claimable_share(conn, 31337, None) == 10000 - 1000
        assert fee_settings(conn, 31337) == {
            "send_fee": "200000",
            "delegation_fee": "5000000",
            "paused": "false",
            "fee_paused": "true",
            f"custom_fee_percentage:{carol}": "50",
            f"permission:{a[3].lower()}:{alice}": "false",
        }
        assert wallet_statistics(conn, alice)["mailsSent"] == 4
        assert wallet_statistics(conn, alice)["preparedMailsSent"] == 2
        assert wallet_statistics(conn, bob)["mailsReceived"] == 2
    events = [r["event_name"] for r in rows(system.engine, evm_event_log)]
    assert sorted(set(events)) == sorted(
        [
            "MailSent",
            "SharesRecorded",
            "PreparedMailSent",
            "MailSentToEmail",
            "PreparedMailSentToEmail",
            "WebhookMailSent",
            "FeeUpdated",
            "DelegationFeeUpdated",
            "RecipientClaimed",
            "OwnerClaimed",
            "ExpiredSharesClaimed",
            "ContractPaused",
            "ContractUnpaused",
            "EmergencyUnpaused",
            "FeePauseToggled",
            "FundsDistributed",
            "CustomFeePercentageSet",
            "PermissionGranted",
            "PermissionRevoked",
        ]
    )


def test_older_mailer_abis_decode_with_their_implied_payer_and_fee(system: System, anvil: Anvil) -> None:
    legacy = anvil.deploy("LegacyMailerEvents")
    oldest = anvil.deploy("OldestMailerEvents")
    a = anvil.accounts
    for deployed in (legacy, oldest):
        f = deployed.contract.functions
        if deployed is legacy:
            anvil.send(f.send(a[1], "legacy", "body", False, False, False), 2)
        else:
            anvil.send(f.send(a[1], "oldest", "body", False, False), 2)
        anvil.send(f.sendPrepared(a[1], "old-mail-id", False, False), 2)
        anvil.send(f.sendToEmail("x@example.com", "s", "b"), 2)
        anvil.send(f.sendPreparedToEmail("y@example.com", "old-email-id"), 2)
        anvil.send(f.sendThroughWebhook(a[1], "old-webhook", False, False), 2)

    index(system, spec_for(anvil, [legacy.address, oldest.address]))

    with system.engine.connect() as conn:
        mails = mails_of(conn, 31337)
    assert len(mails) == 10
    sender = a[2].lower()
    assert all(m["payer"] == sender and m["sender"] == sender for m in mails)
    assert {m["abi_version"] for m in mails[:5]} == {FEE_PAID_NO_PAYER}
    assert {m["abi_version"] for m in mails[5:]} == {NO_FEE_PAID}
    assert [m["fee_paid"] for m in mails] == [False] + [True] * 9
    assert [m["mail_id"] for m in mails if m["kind"].startswith("prepared")] == ["old-mail-id", "old-email-id"] * 2
    assert [m["webhook_id"] for m in mails if m["kind"] == "webhook"] == ["old-webhook"] * 2


def test_a_strangers_reject_delegation_changes_nothing_and_the_delegates_clears(system: System, anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    f = mailer.contract.functions
    a = anvil.accounts
    delegator, delegate, stranger = a[1].lower(), a[2].lower(), a[3]
    spec = spec_for(anvil, [mailer.address])

    anvil.send(f.delegateTo(a[2]), 1)
    anvil.send(f.rejectDelegation(a[1]), 3)  # a stranger
    index(system, spec)
    with system.engine.connect() as conn:
        assert [d["delegate"] for d in delegated_to(conn, delegator)] == [delegate]
        assert [d["delegator"] for d in delegators_of(conn, delegate)] == [delegator]
        assert [h["effect"] for h in delegation_history(conn, delegator)] == ["set", "ignored"]
        assert delegation_history(conn, delegator)[1]["tx_from"] == stranger.lower()

    anvil.send(f.rejectDelegation(a[1]), 2)  # the delegate itself
    index(system, spec)
    with system.engine.connect() as conn:
        assert delegated_to(conn, delegator) == []
        assert delegators_of(conn, delegate) == []
        assert [h["effect"] for h in delegation_history(conn, delegator)] == ["set", "ignored", "cleared"]

    anvil.send(f.delegateTo(a[4]), 1)
    anvil.send(f.delegateTo(ZERO), 1)  # the delegator clears its own
    anvil.send(f.delegateTo(a[2]), 1)
    index(system, spec)
    with system.engine.connect() as conn:
        assert [d["delegate"] for d in delegated_to(conn, delegator)] == [delegate]


def test_3dns_registrations_give_names_their_owner_and_expiry(system: System, anvil: Anvil) -> None:
    token = anvil.deploy("ThreeDNSEvents")
    f = token.contract.functions
    a = anvil.accounts
    node = keccak(text="alice.box")
    fqdn = b"\x05alice\x03box\x00"
    anvil.send(f.register(node, keccak(text="box"), fqdn, a[1], 1_900_000_000), 0)
    anvil.send(f.extend(node, 31536000, 1_931_536_000), 0)
    index(system, spec_for(anvil, [], token.address))
    with system.engine.connect() as conn:
        (name,) = names_owned_by(conn, a[1])
    assert (name["name"], name["expiry"], name["node"]) == ("alice.box", 1_931_536_000, "0x" + node.hex())

    anvil.send(f.transfer(node, a[1], a[2]), 0)
    index(system, spec_for(anvil, [], token.address))
    with system.engine.connect() as conn:
        assert names_owned_by(conn, a[1]) == []
        assert [n["name"] for n in names_owned_by(conn, a[2])] == ["alice.box"]


def test_indexing_again_from_the_checkpoint_appends_nothing_twice(system: System, anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    f = mailer.contract.functions
    spec = spec_for(anvil, [mailer.address], max_block_range=3)
    for i in range(7):
        anvil.send(f.send(anvil.accounts[1], f"mail {i}", "", anvil.accounts[0], False, False, True), 0)
    index(system, spec)
    before = read_models(system.engine)
    index(system, spec)  # a restarted worker: same checkpoint, same node
    assert read_models(system.engine) == before
    with system.engine.connect() as conn:
        observed = conn.execute(select(func.count()).select_from(evm_event_log)).scalar_one()
    assert observed == 7


def test_with_receipts_fetched_each_indexed_transaction_has_its_gas_used_and_gas_price(
    system: System, anvil: Anvil
) -> None:
    mailer = anvil.deploy("MailerEvents")
    f, a = mailer.contract.functions, anvil.accounts
    sent = [
        anvil.send(f.send(a[1], "Hello", "gas", a[0], False, False, True), 0),
        anvil.send(f.delegateTo(a[2]), 1),
        anvil.send(f.sendMany(a[3], "many", 3), 2),  # three logs, one transaction
    ]

    index(system, replace(spec_for(anvil, [mailer.address]), receipts=True))

    with system.engine.connect() as conn:
        for receipt in sent:
            gas = transaction_gas(conn, 31337, "0x" + receipt["transactionHash"].hex().removeprefix("0x"))
            assert gas is not None
            assert (gas["gas_used"], int(gas["gas_price"])) == (receipt["gasUsed"], receipt["effectiveGasPrice"])
            assert gas["block_number"] == receipt["blockNumber"]
        assert conn.execute(select(func.count()).select_from(evm_transaction_gas)).scalar_one() == 3
        [sender] = [m["sender"] for m in mails_of(conn, 31337) if m["subject"] == "Hello"]
        totals = gas_totals(conn, select(evm_event_log.c.tx_hash))
    assert sender == a[0].lower()
    assert int(totals["totalGasUsed"]) == sum(r["gasUsed"] for r in sent)
    assert int(totals["averageGasPrice"]) > 0


def test_without_receipts_no_gas_is_recorded(system: System, anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    anvil.send(mailer.contract.functions.send(anvil.accounts[1], "Hi", "", anvil.accounts[0], False, False, True), 0)

    index(system, spec_for(anvil, [mailer.address]))

    with system.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(evm_transaction_gas)).scalar_one() == 0
