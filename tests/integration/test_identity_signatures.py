"""The one signature check: real EVM and Solana keys, every accepted encoding, and garbage that is
refused without an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainmail.domain.identity.names import validate_username
from chainmail.domain.identity.signatures import (
    InvalidMessage,
    parse_sign_in_message,
    parse_wallet,
    sign_in_message,
    verify_signature,
)
from tests.integration.identity_wallets import EvmWallet, SolanaWallet

EVM = EvmWallet()
SOL = SolanaWallet()


@pytest.mark.parametrize("encoding", ["hex", "0xhex", "base64"])
def test_an_evm_personal_sign_verifies_in_every_encoding(encoding: str) -> None:
    wallet = parse_wallet(EVM.address)
    assert wallet is not None and wallet.address == EVM.canonical and wallet.chain_type == "evm"

    assert verify_signature(wallet, "hello", EVM.sign("hello", encoding))  # type: ignore[arg-type]
    assert not verify_signature(wallet, "hello!", EVM.sign("hello", encoding))  # type: ignore[arg-type]


def test_a_solana_signature_verifies_and_another_key_does_not() -> None:
    wallet = parse_wallet(SOL.address)
    assert wallet is not None and wallet.chain_type == "solana" and wallet.address == SOL.address

    assert verify_signature(wallet, "hello", SOL.sign("hello"))
    assert not verify_signature(wallet, "hello", SolanaWallet().sign("hello"))
    assert not verify_signature(wallet, "hello", EVM.sign("hello"))


def test_another_evm_key_is_not_the_signer() -> None:
    wallet = parse_wallet(EVM.address)
    assert wallet is not None
    assert not verify_signature(wallet, "hello", EvmWallet().sign("hello"))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_garbage_signatures_are_simply_invalid(garbage: str) -> None:
    for address in (EVM.address, SOL.address):
        wallet = parse_wallet(address)
        assert wallet is not None
        assert verify_signature(wallet, "hello", garbage) is False


@pytest.mark.parametrize(
    "garbage",
    ["0x" + "00" * 65, "ff" * 65, "AAAA", "0x" + "zz" * 65, "=" * 88, "1" * 88, "\x00", " "],
)
def test_malformed_signatures_of_the_right_length_do_not_raise(garbage: str) -> None:
    for address in (EVM.address, SOL.address):
        wallet = parse_wallet(address)
        assert wallet is not None
        assert verify_signature(wallet, "hello", garbage) is False


@pytest.mark.parametrize("text", ["", "0x123", "0x" + "g" * 40, "O0Il" * 10, "hello world", None, 42])
def test_things_that_are_not_wallets(text: object) -> None:
    assert parse_wallet(text) is None


def test_a_sign_in_message_reads_back_what_was_written() -> None:
    issued = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    wallet = parse_wallet(EVM.address)
    assert wallet is not None
    text = sign_in_message(wallet, domain="mail.example.com", uri="https://x.test/", nonce="ab" * 16, issued_at=issued)

    parsed = parse_sign_in_message(text)

    assert text.splitlines()[1] == EVM.address  # EIP-55, as wallets show it
    assert parsed.wallet == wallet and parsed.nonce == "ab" * 16 and parsed.issued_at == issued
    assert parsed.domain == "mail.example.com" and parsed.uri == "https://x.test/"


def test_the_solana_message_uses_solana_wording_and_no_chain_id() -> None:
    wallet = parse_wallet(SOL.address)
    assert wallet is not None
    text = sign_in_message(
        wallet, domain="d.test", uri="https://d.test", nonce="n", issued_at=datetime.now(UTC), chain_id=1
    )

    assert text.startswith("d.test wants you to sign in with your Solana account:\n" + SOL.address)
    assert "Chain ID" not in text and "Sign in with Solana to the app." in text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "x wants you to sign in with your Bitcoin account:\naddr",
        "d wants you to sign in with your Ethereum account:",
        "d wants you to sign in with your Ethereum account:\n0xabc\n\nChain ID: one\n",
        "d wants you to sign in with your Ethereum account:\n0xabc\nIssued At: yesterday",
        "d wants you to sign in with your Ethereum account:\n0xabc\nNonce: a\nNonce: b",
        "x" * 5000,
    ],
)
def test_unreadable_messages_are_refused(text: str) -> None:
    with pytest.raises(InvalidMessage):
        parse_sign_in_message(text)


@pytest.mark.parametrize(
    ("text", "chain", "address", "name"),
    [
        ("0xAbCdEf0123456789abcdef0123456789ABCDEF01", "evm", "0xabcdef0123456789abcdef0123456789abcdef01", None),
        (
            "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
            "solana",
            "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
            None,
        ),
        ("Vitalik.ETH", "evm", None, "vitalik.eth"),
        ("my-name.box", "evm", None, "my-name.box"),
        ("bonfida.sol", "solana", None, "bonfida.sol"),
        ("x.web3", "solana", None, "x.web3"),
    ],
)
def test_the_username_rules(text: str, chain: str, address: str | None, name: str | None) -> None:
    found = validate_username(text)
    assert found is not None
    assert (found.chain_type, found.wallet_address, found.name) == (chain, address, name)


@pytest.mark.parametrize(
    "text",
    ["", "ab", ".eth", "-ab.eth", "ab-.eth", "a--b.eth", "a.b.eth", "x.com", "a.b.sol", "0x1234", "a b.sol", "é.eth"],
)
def test_usernames_the_rules_refuse(text: str) -> None:
    assert validate_username(text) is None


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=300), st.integers(min_value=0, max_value=299))
def test_any_text_signed_verifies_and_any_change_breaks_it(message: str, at: int) -> None:
    position = at % len(message)
    changed = message[:position] + ("a" if message[position] != "a" else "b") + message[position + 1 :]
    for signer in (EVM, SOL):
        wallet = parse_wallet(signer.address)
        assert wallet is not None
        signature = signer.sign(message)
        assert verify_signature(wallet, message, signature)
        assert not verify_signature(wallet, changed, signature)


def test_an_evm_signature_with_v_as_0_or_1_verifies_too() -> None:
    wallet = parse_wallet(EVM.address)
    assert wallet is not None
    raw = bytes.fromhex(EVM.sign("hardware wallet")[2:])
    assert raw[64] in (27, 28)
    low_v = raw[:64] + bytes([raw[64] - 27])
    assert verify_signature(wallet, "hardware wallet", "0x" + low_v.hex())
