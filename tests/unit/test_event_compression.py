"""Chain event states are compressed on the client; small ones and ones stored before stay plain JSON."""

from __future__ import annotations

import json

from chainmail.store.compression import PLAIN_BELOW, FastZlib


def test_a_big_state_is_compressed_and_comes_back_whole() -> None:
    state = json.dumps({"logs": [{"tx_hash": f"0x{i:064x}", "subject": "bench"} for i in range(2000)]}).encode()
    packed = FastZlib().compress(state)
    assert len(packed) < len(state) / 5
    assert FastZlib().decompress(packed) == state


def test_small_states_and_states_stored_uncompressed_read_as_they_are() -> None:
    small = b'{"chain_id":1}'
    assert FastZlib().compress(small) == small
    stored_before = json.dumps({"x": "y" * PLAIN_BELOW * 2}).encode()  # written before compression was on
    assert FastZlib().decompress(stored_before) == stored_before
