"""The rules of points, referral codes and KYC reviews, driven by hypothesis over the command side
(in-memory event store): balances are sums of an immutable ledger, the daily cap holds whatever the
order of awards, one-time awards happen once, codes are 9 of [A-Z0-9], reviews apply once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainmail.domain.application import IdSource
from chainmail.domain.identity.kyc import KycApplication, KycReview
from chainmail.domain.identity.referrals import CODE, new_code
from chainmail.domain.rewards.application import Rewards
from chainmail.domain.rewards.points import DailyCapReached, PointsDay, PointsTable, UnknownActivity

START = datetime(2026, 1, 1, tzinfo=UTC)
ACTIVITIES = ["send", "reply", "forward", "first_login", "referral", "delegate"]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def rewards(cap: int, clock: Clock) -> Rewards:
    return Rewards(env={}, clock=clock, table=PointsTable(daily_mail_actions=cap))


def ledger(app: Rewards) -> list[object]:
    return [n for n in app.recorder.select_notifications(start=1, limit=10_000) if "PointsAwarded" in n.topic]


@settings(max_examples=40, deadline=None)
@given(
    cap=st.integers(min_value=0, max_value=5),
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIVITIES), st.integers(min_value=0, max_value=30_000), st.booleans()),
        max_size=40,
    ),
)
def test_the_daily_cap_holds_and_the_balance_is_the_sum_of_awards(cap: int, steps: list) -> None:
    clock = Clock()
    app = rewards(cap, clock)
    given_points: dict[str, int] = {}
    mail_per_day: dict[str, int] = {}
    for activity, seconds, once in steps:
        clock.now += timedelta(seconds=seconds)
        day = PointsDay.day_of(clock.now)
        try:
            award = app.award("0xwallet", "evm", activity, once=activity if once else None)
        except DailyCapReached:
            assert activity in app.table.mail_actions and mail_per_day.get(day, 0) == cap
            continue
        if award.awarded and activity in app.table.mail_actions:
            mail_per_day[day] = mail_per_day.get(day, 0) + 1
        given_points[activity] = given_points.get(activity, 0) + award.points
    assert all(count <= cap for count in mail_per_day.values())
    recorded = ledger(app)
    assert sum(app.mapper.to_domain_event(n).amount for n in recorded) == sum(given_points.values())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["first_login", "referral:a", "referral:b"]), min_size=1, max_size=12))
def test_a_one_time_award_happens_once_per_key(keys: list[str]) -> None:
    app = rewards(10, Clock())
    awarded = [app.award("wallet", "solana", key.split(":")[0], once=key).awarded for key in keys]
    assert sum(awarded) == len(set(keys))


def test_an_unknown_activity_is_refused_before_anything_is_recorded() -> None:
    app = rewards(10, Clock())
    with pytest.raises(UnknownActivity):
        app.award("wallet", "evm", "teleport")
    assert ledger(app) == []


@given(st.randoms(use_true_random=False))
def test_referral_codes_are_nine_letters_or_digits(rng: random.Random) -> None:
    ids = IdSource(randbytes=rng.randbytes)
    assert CODE.match(new_code(ids.randbytes))


def test_referral_codes_use_the_whole_alphabet_without_bias() -> None:
    rng = random.Random(7)
    counts: dict[str, int] = {}
    for _ in range(2000):
        for char in new_code(rng.randbytes):
            counts[char] = counts.get(char, 0) + 1
    assert len(counts) == 36
    assert max(counts.values()) / min(counts.values()) < 1.5


reviews = st.tuples(
    st.sampled_from(["applicantReviewed", "applicantPending", "applicantOnHold", "applicantReset", "other"]),
    st.sampled_from([None, "GREEN", "RED", "YELLOW"]),
    st.sampled_from([None, "RETRY", "FINAL"]),
    st.integers(min_value=0, max_value=5),  # correlation id: repeats are likely
)


@settings(max_examples=60, deadline=None)
@given(st.lists(reviews, max_size=25), st.integers(min_value=0, max_value=3))
def test_kyc_reviews_apply_once_and_retries_never_exceed_the_maximum(steps: list, max_retries: int) -> None:
    application = KycApplication(
        wallet="0xw", chain_type="evm", application_id="a", applicant_id="ap", level="basic", at=START
    )
    seen: set[str] = set()
    for kind, answer, reject, correlation in steps:
        before = (application.status, application.retry_count)
        applied = application.review(KycReview(f"c{correlation}", kind, "ap", None, answer, reject), START, max_retries)
        if f"c{correlation}" in seen:
            assert not applied and (application.status, application.retry_count) == before
        if applied:
            seen.add(f"c{correlation}")
        assert application.retry_count <= max_retries
        assert application.status in ("INITIATED", "IN_PROGRESS", "SUBMITTED", "COMPLETED", "REJECTED")
        if applied and kind == "applicantReviewed" and answer == "GREEN":
            assert application.status == "COMPLETED" and application.results["basic"]["verified"] is True
        if applied and kind == "applicantReviewed" and answer == "RED" and reject != "RETRY":
            assert application.status == "REJECTED"
