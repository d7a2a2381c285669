"""Pages of chain logs are encoded by orjson; what is stored decodes, with eventsourcing's own decoder, to
the very event that was saved (which is also what lets the projection runner fold the saved event itself)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from chainmail.domain.chain.logs import LogPage, LogRecord
from chainmail.store.compression import FastZlib
from chainmail.store.json_values import JsonValuesMapper

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)
records = st.builds(
    LogRecord,
    chain_id=st.integers(min_value=-103, max_value=2**40),
    contract=st.sampled_from(["mailer", "threedns"]),
    address=st.text(max_size=44),
    event=st.text(min_size=1, max_size=20),
    abi_version=st.sampled_from(["current", "v1"]),
    block_number=st.integers(min_value=0, max_value=2**40),
    block_hash=st.text(max_size=66),
    block_time=st.integers(min_value=0, max_value=2**40),
    tx_hash=st.text(max_size=88),
    tx_index=st.integers(min_value=0, max_value=2**16),
    log_index=st.integers(min_value=0, max_value=2**16),
    args=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
    tx_from=st.none() | st.text(max_size=42),
    recovered=st.dictionaries(st.sampled_from(["mailId", "webhookId"]), st.none() | st.text(max_size=20)),
    gas_used=st.none() | st.integers(min_value=0, max_value=2**60),
    gas_price=st.none() | st.integers(min_value=0, max_value=2**60),
)


def mappers() -> tuple[Mapper[Any], JsonValuesMapper]:
    app = Application()
    transcoder = app.mapper.transcoder
    return Mapper(transcoder=transcoder), JsonValuesMapper(transcoder=transcoder, compressor=FastZlib())


def page(logs: list[dict[str, Any]]) -> LogPage.Observed:
    aggregate = LogPage(31337, 7, 1, 10, logs, ["0xab"])
    (observed,) = aggregate.collect_events()
    assert isinstance(observed, LogPage.Observed)
    return observed


@settings(max_examples=60, deadline=None)
@given(st.lists(records, max_size=20))
def test_a_page_stored_by_orjson_decodes_to_the_saved_event_and_to_what_the_standard_encoder_stores(
    logs: list[LogRecord],
) -> None:
    standard, fast = mappers()
    event = page([r.to_json() for r in logs])
    stored = fast.to_stored_event(event)
    assert fast.to_domain_event(stored).__dict__ == event.__dict__
    assert fast.to_domain_event(stored).__dict__ == standard.to_domain_event(standard.to_stored_event(event)).__dict__


def test_values_orjson_refuses_are_stored_by_the_standard_encoder() -> None:
    _, fast = mappers()
    event = page([{"args": {"amount": 2**70}, "keys": {1: "not a string key"}}])
    stored = fast.to_stored_event(event)
    decoded = fast.to_domain_event(stored)
    assert decoded.logs == [{"args": {"amount": 2**70}, "keys": {"1": "not a string key"}}]  # as json writes them


class Holder(Aggregate):
    def __init__(self, ref: UUID) -> None:
        self.ref = ref


def test_events_not_marked_json_values_only_keep_the_standard_encoding() -> None:
    standard, fast = mappers()
    (created,) = Holder(ref=uuid4()).collect_events()
    assert fast.to_stored_event(created).state == FastZlib().compress(standard.to_stored_event(created).state)
    assert fast.to_domain_event(fast.to_stored_event(created)).__dict__ == created.__dict__  # the UUID stays one
