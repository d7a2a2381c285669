"""Rate limits live in the database, so every worker shares them: sign-in failures (WildDuck's 12 per
120 s per account), TOTP checks, and the indexer's per-minute budgets; a rolling window, not a fixed one."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import falcon.testing
import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import rate_limited
from chainmail.identity.settings import IdentitySettings
from chainmail.store.database import make_engine
from chainmail.store.rate_limits import RollingWindowLimiter
from chainmail.system import System

from .conftest import ROOT_TOKEN, in_threads
from .test_accounts_auth import Clock, create, login

LIMITED = {"error": "Authentication was rate limited", "code": "RateLimitedError"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workers(settings: Settings, clock: Clock) -> Iterator[tuple[falcon.testing.TestClient, falcon.testing.TestClient]]:
    """Two Systems on one database, as two gunicorn workers are."""
    first, second = System(settings, clock=clock), System(settings, clock=clock)
    headers = {"X-Access-Token": ROOT_TOKEN}
    yield (
        falcon.testing.TestClient(create_app(first), headers=headers),
        falcon.testing.TestClient(create_app(second), headers=headers),
    )
    first.close()
    second.close()


def test_failed_sign_ins_count_across_workers(workers, clock: Clock) -> None:
    one, two = workers
    user_id = create(one, "guessme")

    codes = [login(one if n % 2 else two, "guessme", f"guess-{n}").json["code"] for n in range(12)]
    on_one, on_two = login(one, "guessme", "secretvalue"), login(two, "guessme", "secretvalue")

    assert codes == ["AuthFailed"] * 12
    assert (on_one.status_code, on_one.json) == (403, {**LIMITED, "id": user_id})
    assert (on_two.status_code, on_two.json) == (403, {**LIMITED, "id": user_id})


def test_the_window_rolls_failures_leave_it_one_by_one(workers, clock: Clock) -> None:
    one, two = workers
    create(one, "roller")
    for n in range(6):
        login(one, "roller", f"early-{n}")
    clock.advance(seconds=60)
    for n in range(6):
        login(two, "roller", f"late-{n}")

    clock.advance(seconds=59)  # all twelve still inside the last 120 seconds
    still_limited = login(one, "roller", "secretvalue").json.get("code")
    clock.advance(seconds=2)  # the six early ones have left the window
    allowed = login(two, "roller", "secretvalue")

    assert still_limited == "RateLimitedError"
    assert allowed.status_code == 200


def test_guesses_at_unknown_names_are_limited_too(workers) -> None:
    one, two = workers
    codes = [login(one if n % 2 else two, "nobody-here", "x").json["code"] for n in range(13)]

    assert codes == ["AuthFailed"] * 12 + ["RateLimitedError"]


def test_totp_failures_are_limited_and_a_used_code_is_refused(workers, clock: Clock) -> None:
    one, two = workers
    user_id = create(one, "second")
    seed = one.simulate_post(f"/api/users/{user_id}/2fa/totp/setup", json={"issuer": "test"}).json["seed"]
    totp = pyotp.TOTP(seed)
    enabled = one.simulate_post(f"/api/users/{user_id}/2fa/totp/enable", json={"token": totp.at(clock.now)})
    assert enabled.status_code == 200, enabled.text
    clock.advance(seconds=30)
    code = totp.at(clock.now)

    first = one.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": code})
    replayed = two.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": code})
    failures = [
        (one if n % 2 else two).simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": "000000"}).json
        for n in range(11)  # the replay above took one attempt of the twelve
    ]
    clock.advance(seconds=30)
    limited = one.simulate_post(f"/api/users/{user_id}/2fa/totp/check", json={"token": totp.at(clock.now)})

    assert first.json == {"success": True}
    assert (replayed.status_code, replayed.json["code"]) == (403, "RateLimitedError")
    assert "already been used" in replayed.json["error"]
    assert {f["code"] for f in failures} == {"InvalidToken"}
    assert (limited.status_code, limited.json) == (403, LIMITED)


def test_concurrent_hits_from_two_engines_never_pass_the_limit(database_url: str) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    limiters = [RollingWindowLimiter(engine) for engine in engines]
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: RollingWindowLimiter) -> None:
        for _ in range(10):
            verdict = limiter.hit("contended", 25, 60, now=1000.0)
            with lock:
                allowed.append(verdict.allowed)

    threads = [threading.Thread(target=hammer, args=(limiters[n % 2],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    denied_later = limiters[0].hit("contended", 25, 60, now=1059.0)
    after_window = limiters[1].hit("contended", 25, 60, now=1060.5)
    for engine in engines:
        engine.dispose()

    assert (allowed.count(True), allowed.count(False)) == (25, 35)
    assert not denied_later.allowed and 0 < denied_later.retry_after <= 1.0
    assert after_window.allowed and after_window.hits == 1


def test_hits_and_releases_of_one_key_at_once_never_fail(database_url: str) -> None:
    """Sign-ins of one user at once over two engines: each counts a hit and a success releases the key (deletes
    its row). A hit that found no row and made none (another had) then found it deleted and failed (500)."""
    engines = [make_engine(database_url), make_engine(database_url)]
    limiters = [RollingWindowLimiter(engine) for engine in engines]
    failures: list[Exception] = []

    def sign_in(n: int) -> None:
        limiter = limiters[n % 2]
        for _ in range(40):
            try:
                assert limiter.hit("one user", 12, 120, now=1000.0).allowed
                limiter.release("one user")
            except Exception as error:  # kept for the assertion, which shows it
                failures.append(error)

    in_threads(sign_in, 8)
    left = limiters[0].peek("one user", 12, 120, now=1000.0)
    for engine in engines:
        engine.dispose()

    assert failures == []
    assert left.allowed and left.hits == 0


def test_the_indexer_budgets_are_shared_by_workers(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, email_domain="example.com", identity=IdentitySettings(rate_limit_per_minute=3)
    )
    first, second = System(settings), System(settings)
    try:
        for system in (first, second, first):
            rate_limited(system, "wallet:0xabc")
        with pytest.raises(IndexerError) as refused:
            rate_limited(second, "wallet:0xabc")
        rate_limited(second, "wallet:0xdef")  # another key has its own budget
    finally:
        first.close()
        second.close()
    assert (refused.value.status, refused.value.code) == (429, "RATE_LIMITED")


def test_an_indexer_route_answers_429_in_the_indexer_shape_from_the_second_worker(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, email_domain="example.com", identity=IdentitySettings(rate_limit_per_minute=2)
    )
    first, second = System(settings), System(settings)
    try:
        body = {"username": "0x" + "ab" * 20, "message": "m", "signature": "0x00"}
        one, two = falcon.testing.TestClient(create_app(first)), falcon.testing.TestClient(create_app(second))
        statuses = [
            client.simulate_post("/idx/authenticate", json=body, remote_addr="127.0.0.1").status_code
            for client in (one, two, one)
        ]
        limited = two.simulate_post("/idx/authenticate", json=body, remote_addr="127.0.0.1")
    finally:
        first.close()
        second.close()
    assert 429 not in statuses[:2] and statuses[2] == 429
    assert (limited.status_code, limited.json["success"], limited.json["code"]) == (429, False, "RATE_LIMITED")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), min_size=1, max_size=40),
    limit=st.integers(min_value=1, max_value=6),
    window=st.sampled_from([10.0, 60.0]),
)
def test_the_rolling_window_admits_exactly_what_a_timestamp_log_admits(
    database_url: str, gaps: list[float], limit: int, window: float
) -> None:
    engine = make_engine(database_url)
    limiter, key = RollingWindowLimiter(engine), f"prop-{uuid.uuid4().hex}"
    now, admitted, verdicts, expected = 1_000_000.0, [], [], []
    for gap in gaps:
        now += gap
        inside = [t for t in admitted if t > now - window]
        expected.append(len(inside) < limit)
        verdict = limiter.hit(key, limit, window, now=now)
        verdicts.append(verdict.allowed)
        if verdict.allowed:
            admitted.append(now)
    engine.dispose()

    assert verdicts == expected
    for start in admitted:  # no window of `window` seconds ever holds more than `limit` admitted hits
        assert sum(1 for t in admitted if start <= t < start + window) <= limit
