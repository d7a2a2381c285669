"""The Mailer program's instruction table, base58 and the log reading, as pure functions."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.solana import MailerCall, mailer_event
from chainmail.indexer.solana.borsh import UndecodableInstruction, b58decode, b58encode
from chainmail.indexer.solana.decoding import fee_paid
from chainmail.indexer.solana.payloads import _frames
from chainmail.indexer.solana.program import INSTRUCTIONS, decode_instruction, encode_instruction

PROGRAM = "yW7AiuUVdtSDUvExyNtjQDLMLsccnbgAqgZHJYYsqCW"
ACCOUNTS = [str(Pubkey.new_unique()) for _ in range(3)]
keys = st.binary(min_size=32, max_size=32).map(b58encode)
VALUES = {
    "pubkey": keys,
    "option_pubkey": st.none() | keys,
    "string": st.text(max_size=200),
    "bool": st.booleans(),
    "u64": st.integers(0, 2**64 - 1),
    "u8": st.integers(0, 255),
}


@st.composite
def instructions(draw: st.DrawFn) -> tuple[str, dict]:
    spec = draw(st.sampled_from(INSTRUCTIONS))
    return spec.name, {name: draw(VALUES[kind]) for name, kind in spec.fields}


def test_send_is_encoded_as_the_program_reads_it() -> None:
    to = Keypair().pubkey()
    data = encode_instruction(
        "Send", to=str(to), subject="Hi", body="ü", revenueShareToReceiver=True, resolveSenderToName=False
    )

    assert data == b"\x01" + bytes(to) + b"\x02\x00\x00\x00Hi" + b"\x02\x00\x00\x00\xc3\xbc" + b"\x01\x00"
    assert decode_instruction(data, ACCOUNTS).args["to"] == str(to)


def test_delegate_to_none_and_some() -> None:
    delegate = str(Keypair().pubkey())

    assert encode_instruction("DelegateTo", delegate=None) == b"\x09\x00"
    assert decode_instruction(b"\x09\x01" + b58decode(delegate), ACCOUNTS).args == {"delegate": delegate}
    assert decode_instruction(b"\x0a", ACCOUNTS).name == "RejectDelegation"


@settings(deadline=None)  # timing is not the point; a loaded machine must not fail it
@given(instructions())
def test_every_instruction_decodes_to_what_was_encoded(instruction: tuple[str, dict]) -> None:
    name, args = instruction

    decoded = decode_instruction(encode_instruction(name, **args), ACCOUNTS)

    assert (decoded.name, decoded.args) == (name, args)


@settings(deadline=None)
@given(instructions(), st.data())
def test_a_truncated_instruction_is_undecodable(instruction: tuple[str, dict], data: st.DataObject) -> None:
    encoded = encode_instruction(*instruction[:1], **instruction[1])
    cut = data.draw(st.integers(0, len(encoded) - 1))

    with pytest.raises(UndecodableInstruction):
        decode_instruction(encoded[:cut], ACCOUNTS)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_undecodable_never_anything_else(data: bytes) -> None:
    with contextlib.suppress(UndecodableInstruction):
        decode_instruction(data, ACCOUNTS)


@settings(deadline=None)
@given(st.binary(max_size=100))
def test_base58_round_trips_and_agrees_with_solders(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data
    if len(data) == 32:
        assert b58encode(data) == str(Pubkey.from_bytes(data))


@settings(deadline=None)
@given(st.text(max_size=50))
def test_base58_decoding_of_any_text_raises_only_undecodable(text: str) -> None:
    with contextlib.suppress(UndecodableInstruction):
        b58decode(text)


def test_fee_paid_is_read_from_the_programs_own_log_lines_only() -> None:
    token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    lines = [
        f"Program {PROGRAM} invoke [1]",
        f"Program {token} invoke [2]",
        "Program log: fee paid: true",  # the token program's line, not the Mailer's
        f"Program {token} success",
        "Program log: Standard mail sent from a payer a to b: hi (resolve sender: false, fee paid: false)",
        f"Program {PROGRAM} success",
        f"Program {PROGRAM} invoke [1]",
        "Program log: Priority mail sent from a payer a to b: x (revenue share enabled, fee paid: true)",
        f"Program {PROGRAM} success",
    ]

    frames = _frames(lines, PROGRAM)

    assert frames is not None
    assert [fee_paid(frame) for frame in frames] == [False, True]
    assert fee_paid(None) is None and fee_paid(["Delegation set from a to None"]) is None


def test_instructions_become_the_evm_mailers_events() -> None:
    alice, bob = str(Pubkey.new_unique()), str(Pubkey.new_unique())

    def call(instruction: str, args: dict, accounts: tuple[str, ...] = (alice, bob)) -> MailerCall:
        return MailerCall("sig", "0", 1, 2, 0, PROGRAM, instruction, args, accounts, fee_paid=None)

    name, args, recovered = mailer_event(call("SendPrepared", {"to": bob, "mailId": "m\x00"}), None)
    assert name == "PreparedMailSent" and args["from"] == args["payer"] == alice
    assert args["mailId"].startswith("0x") and recovered == {"mailId": "m\ufffd"} and "feePaid" not in args
    assert mailer_event(call("DelegateTo", {"delegate": None}), None)[1] == {
        "delegator": alice,
        "delegate": ZERO_ADDRESS,
    }
    assert mailer_event(call("RejectDelegation", {}), alice)[:2] == (
        "DelegationSet",
        {"delegator": alice, "delegate": ZERO_ADDRESS},
    )
    assert mailer_event(call("RejectDelegation", {}), None)[0] == "DelegationRejected"
    assert mailer_event(call("SetFee", {"newFee": 5}), None)[:2] == ("SetFee", {"signer": alice, "newFee": 5})
