"""The outbound queue's rules, on the aggregate alone: claims, backoff, bounces and deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chainmail.domain.mail.outbound import FINISHED, QueuedMessage, defer_times, delivery_seq

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def queued(recipients: int = 1, send_time: datetime = START) -> QueuedMessage:
    return QueuedMessage(
        queue_id="a" * 24,
        user_id="b" * 24,
        parent_id=None,
        reason="submit",
        sender="me@example.com",
        blob="0" * 64,
        size=10,
        deliveries=[{"seq": delivery_seq(i), "recipient": f"r{i}@x.test", "target": None} for i in range(recipients)],
        send_time=send_time,
        created_at=START,
    )


def test_defer_times_read_wildducks_duration_lists() -> None:
    assert defer_times("5m, 7m,1h, 2d, 30s, 1500ms") == [
        timedelta(minutes=5),
        timedelta(minutes=7),
        timedelta(hours=1),
        timedelta(days=2),
        timedelta(seconds=30),
        timedelta(milliseconds=1500),
    ]
    assert defer_times("soon, never") == defer_times(None) and len(defer_times(None)) == 17
    assert delivery_seq(0) == "001" and delivery_seq(15) == "010"


def test_a_claim_holds_a_delivery_until_its_lease_ends() -> None:
    message = queued(2)
    assert message.claim(["001"], "w1", START, LEASE) == ["001"]
    assert message.claim(["001", "002"], "w2", START + timedelta(minutes=1), LEASE) == ["002"]
    assert message.claim(["001"], "w2", START + LEASE, LEASE) == ["001"]  # the first worker died: taken over


def test_nothing_is_claimed_before_its_send_time_and_deleting_spares_held_deliveries() -> None:
    message = queued(3, send_time=START + timedelta(hours=1))
    assert message.claim(["001"], "w", START, LEASE) == []
    later = START + timedelta(hours=1)
    assert message.claim(["001"], "w", later, LEASE) == ["001"]
    assert message.delete(later) == ["002", "003"]
    assert message.delete(later) == []
    assert message.record_attempt("001", "delivered", "250 ok", later, [LEASE]) == "delivered"


@given(
    outcomes=st.lists(st.sampled_from(["delivered", "deferred", "bounced"]), min_size=1, max_size=30),
    waits=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8),
)
def test_every_delivery_ends_delivered_or_bounced_and_never_changes_after(
    outcomes: list[str], waits: list[int]
) -> None:
    backoff = [timedelta(seconds=w) for w in waits]
    message = queued()
    now, final, attempts_to_finish = START, None, None
    for attempt, outcome in enumerate(outcomes, start=1):
        entry = message.entries["001"]
        if entry["status"] not in FINISHED:
            assert message.claim(["001"], "w", now, LEASE) == ["001"]
        status = message.record_attempt("001", outcome, "answer", now, backoff)
        if final is None and status in FINISHED:
            final, attempts_to_finish = status, attempt
        if final is not None:
            assert status == final  # a finished delivery is never attempted or changed again
        elif status == "deferred":
            assert message.entries["001"]["due"] == now + backoff[attempt - 1]
            assert message.claim(["001"], "w", now, LEASE) == []  # not due again before its wait is over
            now = message.entries["001"]["due"]
    if final is not None:
        assert attempts_to_finish is not None and attempts_to_finish <= len(waits) + 1
    else:
        assert len(outcomes) <= len(waits) and set(outcomes) == {"deferred"}
