"""Points and referrals on the indexer API, on both stores: a wallet's balance, awards from the mail
server (IP restricted, capped per day), the leaderboard and site statistics, first-login and referral
points from every way in, and referral codes and their statistics."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.domain.rewards.application import Rewards
from chainmail.domain.rewards.points import DailyCapReached
from chainmail.http.app import create_app
from chainmail.identity.settings import IdentitySettings
from chainmail.projections import points as points_model
from chainmail.projections import points_stats, referral_codes
from chainmail.rewards.settings import RewardsSettings
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import (
    EvmWallet,
    SolanaWallet,
    Wallet,
    sign_in_headers,
    sign_in_message,
)

MAIL_SERVER = "10.0.0.10"
CAP = 3


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(internal_allowed_ips=[MAIL_SERVER], message_ttl=3600, rate_limit_per_minute=1000),
        rewards=RewardsSettings(daily_mail_actions=CAP, points={"priority_mail": -1, "bonus": 7}),
    )


@pytest.fixture
def system(settings: Settings, clock: Clock) -> Iterator[System]:
    system = System(settings, clock=clock)
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


def add(client: falcon.testing.TestClient, wallet: Wallet | str, body: dict, *, peer: str = MAIL_SERVER, prefix="/idx"):
    address = wallet if isinstance(wallet, str) else wallet.address
    return client.simulate_post(f"{prefix}/wallets/{address}/points/add", json=body, remote_addr=peer)


def points(client: falcon.testing.TestClient, wallet: Wallet) -> dict:
    got = client.simulate_get(f"/idx/wallets/{wallet.address}/points", headers=sign_in_headers(client, wallet))
    assert got.status_code == 200, got.text
    assert got.json["success"] is True and got.json["timestamp"].endswith("Z")
    return got.json["data"]


def authenticate(client: falcon.testing.TestClient, wallet: Wallet, **extra: str) -> falcon.testing.Result:
    message = sign_in_message(client, wallet)
    body = {"username": wallet.address, "message": message, "signature": wallet.sign(message), **extra}
    return client.simulate_post("/idx/authenticate", json=body, remote_addr=MAIL_SERVER)


def referral_code(client: falcon.testing.TestClient, wallet: Wallet) -> dict:
    got = client.simulate_post(
        f"/idx/wallets/{wallet.address}/referral", json={}, headers=sign_in_headers(client, wallet)
    )
    assert got.status_code == 200, got.text
    return got.json["data"]


# -- balances and awards ----------------------------------------------------------------------------


def test_a_new_wallet_has_a_zero_record(client: falcon.testing.TestClient) -> None:
    for wallet in (EvmWallet(), SolanaWallet()):
        data = points(client, wallet)
        assert data == {
            "walletAddress": wallet.canonical,
            "chainType": (wallet.canonical.startswith("0x") and "evm") or "solana",
            "pointsEarned": "0",
            "totalActivities": 0,
            "leaderboardRank": None,
            "rank": None,
            "lastActivityDate": None,
            "createdAt": None,
            "updatedAt": None,
        }


def test_mail_actions_earn_points_that_the_wallet_reads_back(client: falcon.testing.TestClient, clock: Clock) -> None:
    wallet = EvmWallet()

    sent = add(client, wallet, {"action": "send"})
    clock.tick()
    replied = add(client, wallet.canonical, {"action": "reply"}, prefix="/idx/api")

    assert sent.status_code == 200, sent.text
    assert sent.json["data"] == {
        "walletAddress": wallet.canonical,
        "chainType": "evm",
        "action": "send",
        "pointsAwarded": 5,
        "pointsEarned": "5",
    }
    assert replied.json["data"]["pointsEarned"] == "10"
    data = points(client, wallet)
    assert data["pointsEarned"] == "10" and data["totalActivities"] == 2
    assert data["leaderboardRank"] == 1 and data["rank"] == 1
    assert data["createdAt"] == "2026-11-25T12:00:00.000Z" and data["lastActivityDate"] == "2026-11-25T12:00:01.000Z"


def test_the_ledger_keeps_every_award_with_the_balance_before_and_after(
    client: falcon.testing.TestClient, system: System
) -> None:
    wallet = SolanaWallet()
    for action in ("send", "forward", "bonus"):
        assert add(client, wallet, {"action": action}).status_code == 200

    with system.engine.connect() as conn:
        ledger = points_model.ledger_of(conn, wallet.address)
    assert [(r["activity"], r["amount"], r["balance_before"], r["balance_after"]) for r in ledger] == [
        ("send", 5, 0, 5),
        ("forward", 5, 5, 10),
        ("bonus", 7, 10, 17),
    ]


def test_mail_actions_past_the_daily_cap_get_429_until_the_next_day(
    client: falcon.testing.TestClient, clock: Clock
) -> None:
    wallet = EvmWallet()
    for _ in range(CAP):
        assert add(client, wallet, {"action": "send"}).status_code == 200

    capped = add(client, wallet, {"action": "forward"})
    other = add(client, wallet, {"action": "bonus"})  # not a mail action: no cap

    assert capped.status_code == 429
    assert capped.json["success"] is False and capped.json["code"] == "DAILY_LIMIT_REACHED"
    assert other.status_code == 200
    assert points(client, wallet)["pointsEarned"] == str(CAP * 5 + 7)
    clock.tick(24 * 3600)
    assert add(client, wallet, {"action": "send"}).status_code == 200


def test_concurrent_awards_never_pass_the_daily_cap(system: System) -> None:
    rewards = system.context(Rewards)
    outcomes: list[str] = []

    def send() -> None:
        try:
            rewards.award("0x" + "ab" * 20, "evm", "send")
            outcomes.append("awarded")
        except DailyCapReached:
            outcomes.append("capped")

    threads = [threading.Thread(target=send) for _ in range(CAP + 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["awarded"] * CAP + ["capped"] * 4
    with system.engine.connect() as conn:
        assert points_model.balance_of(conn, "0x" + "ab" * 20)["points_earned"] == CAP * 5
        ledger = points_model.ledger_of(conn, "0x" + "ab" * 20)
    # each award's entry starts where the one before it ended, whichever thread won each race
    assert [(r["balance_before"], r["balance_after"]) for r in ledger] == [(5 * n, 5 * n + 5) for n in range(CAP)]


def test_awards_at_once_to_one_wallet_from_two_workers_all_land_with_one_rerun_at_most(
    system: System, settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hot wallet: sixteen threads of two workers award it at once. One rerun allowed: on PostgreSQL the
    # wallet's awards run in its turn, on SQLite a rerun holds the file's writer, so none is lost for good.
    monkeypatch.setattr(Rewards, "conflict_retries", 2)
    other = System(settings, clock=clock)
    wallet = "0x" + "ef" * 20
    failures: list[str] = []
    start = threading.Barrier(16)

    def award(worker: System) -> None:
        start.wait()
        for _ in range(5):
            try:
                worker.context(Rewards).award(wallet, "evm", "bonus")
            except Exception as error:  # what would be a 500
                failures.append(type(error).__name__)

    threads = [threading.Thread(target=award, args=((system, other)[n % 2],)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.close()

    assert failures == []
    with system.engine.connect() as conn:
        assert points_model.balance_of(conn, wallet)["points_earned"] == 80 * 7
        ledger = points_model.ledger_of(conn, wallet)
    assert [(r["balance_before"], r["balance_after"]) for r in ledger] == [(7 * n, 7 * n + 7) for n in range(80)]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "teleport"}, 400, "INVALID_ACTION"),
        ({"action": "priority_mail"}, 400, "INVALID_ACTION"),  # removed by the settings
        ({}, 400, "VALIDATION_ERROR"),
        ({"action": 5}, 400, "VALIDATION_ERROR"),
        ({"action": ""}, 400, "VALIDATION_ERROR"),
        ({"action": "send\nx"}, 400, "VALIDATION_ERROR"),
        ({"action": "send", "referrer": ["x"]}, 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_awards_get_400_and_record_nothing(
    client: falcon.testing.TestClient, body: dict, status: int, code: str
) -> None:
    wallet = EvmWallet()
    got = add(client, wallet, body)
    assert got.status_code == status, got.text
    assert got.json["success"] is False and got.json["code"] == code
    assert points(client, wallet)["pointsEarned"] == "0"


def test_awards_are_only_taken_from_the_mail_server(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    assert add(client, wallet, {"action": "send"}, peer="10.0.0.99").status_code == 403
    assert add(client, "0x1234", {"action": "send"}).status_code == 400
    got = client.simulate_post(
        f"/idx/wallets/{wallet.address}/points/add", body="{not json", headers={"Content-Type": "application/json"}
    )
    assert got.status_code in (400, 403) and got.json["success"] is False
    assert points(client, wallet)["pointsEarned"] == "0"


def test_reading_points_needs_the_wallets_signature(client: falcon.testing.TestClient) -> None:
    wallet, other = EvmWallet(), EvmWallet()
    path = f"/idx/wallets/{wallet.address}/points"

    assert client.simulate_get(path).status_code == 401
    forged = {**sign_in_headers(client, other), "x-signer": wallet.address}
    assert client.simulate_get(path, headers=forged).status_code == 401
    assert client.simulate_get(path, headers=sign_in_headers(client, other)).status_code == 401
    assert client.simulate_get("/idx/wallets/nope/points", headers=sign_in_headers(client, wallet)).status_code == 400


# -- leaderboard and site statistics ----------------------------------------------------------------


def test_the_leaderboard_ranks_by_points_then_by_who_started_first(
    client: falcon.testing.TestClient, clock: Clock
) -> None:
    early, late, top = EvmWallet(), SolanaWallet(), EvmWallet()
    add(client, early, {"action": "send"})
    clock.tick()
    add(client, late, {"action": "send"})
    clock.tick()
    add(client, top, {"action": "send"})
    add(client, top, {"action": "reply"})

    got = client.simulate_get("/idx/points/leaderboard/10")
    assert got.status_code == 200, got.text
    board = got.json["data"]["leaderboard"]
    assert [(e["walletAddress"], e["pointsEarned"], e["leaderboardRank"], e["rank"]) for e in board] == [
        (top.canonical, "10", 1, 1),
        (early.canonical, "5", 2, 2),
        (late.canonical, "5", 3, 3),
    ]
    assert board[2]["chainType"] == "solana" and board[0]["totalActivities"] == 2
    assert client.simulate_get("/idx/api/points/leaderboard/2").json["data"]["leaderboard"][1]["walletAddress"] == (
        early.canonical
    )
    assert points(client, late)["leaderboardRank"] == 3


def leaders(client: falcon.testing.TestClient, count: int = 10) -> list[tuple[str, str]]:
    got = client.simulate_get(f"/idx/points/leaderboard/{count}")
    assert got.status_code == 200, got.text
    return [(e["walletAddress"], e["pointsEarned"]) for e in got.json["data"]["leaderboard"]]


def test_the_leaderboard_is_read_again_once_its_second_has_passed(
    client: falcon.testing.TestClient, system: System, clock: Clock
) -> None:
    first, second = EvmWallet(), EvmWallet()
    add(client, first, {"action": "send"})
    assert leaders(client) == [(first.canonical, "5")]

    add(client, second, {"action": "send"})
    add(client, second, {"action": "reply"})

    # within the second the process answers from its last read, whatever the count; a balance is read now
    assert leaders(client) == [(first.canonical, "5")] and leaders(client, 1) == [(first.canonical, "5")]
    assert points(client, second)["leaderboardRank"] == 1
    clock.tick(1.0)
    assert leaders(client) == [(second.canonical, "10"), (first.canonical, "5")]
    assert leaders(client, 1) == [(second.canonical, "10")]

    every_time = System(system.settings.model_copy(update={"rewards": RewardsSettings(leaderboard_seconds=0)}))
    try:
        uncached = falcon.testing.TestClient(create_app(every_time))
        assert leaders(uncached) == [(second.canonical, "10"), (first.canonical, "5")]
        add(client, first, {"action": "reply"})
        add(client, first, {"action": "forward"})
        assert leaders(uncached) == [(first.canonical, "15"), (second.canonical, "10")]
    finally:
        every_time.close()


@pytest.mark.parametrize("count", ["0", "101", "abc", "-1", "1.5", "1000"])
def test_a_leaderboard_size_outside_1_to_100_is_400(client: falcon.testing.TestClient, count: str) -> None:
    got = client.simulate_get(f"/idx/points/leaderboard/{count}")
    assert got.status_code == 400 and got.json["code"] == "INVALID_COUNT"


def test_site_statistics_follow_after_a_catch_up(client: falcon.testing.TestClient, system: System) -> None:
    empty = client.simulate_get("/idx/points/site-stats")
    assert empty.status_code == 200
    assert empty.json["data"] == {"totalPoints": "0", "totalUsers": 0, "lastUpdated": None}
    one, two = EvmWallet(), SolanaWallet()
    add(client, one, {"action": "send"})
    add(client, one, {"action": "reply"})
    add(client, two, {"action": "bonus"})

    system.projections.catch_up_all()

    data = client.simulate_get("/idx/api/points/site-stats").json["data"]
    assert data["totalPoints"] == "17" and data["totalUsers"] == 2 and data["lastUpdated"].endswith("Z")


def test_the_rewards_read_models_rebuild_from_the_events(client: falcon.testing.TestClient, system: System) -> None:
    wallets = (EvmWallet(), SolanaWallet(), EvmWallet())
    for wallet in wallets:
        add(client, wallet, {"action": "send"})
        add(client, wallet, {"action": "bonus"})
        referral_code(client, wallet)
    system.projections.catch_up_all()

    def state() -> tuple:
        with system.engine.connect() as conn:
            return (
                points_model.leaderboard(conn, 100),
                [points_model.ledger_of(conn, w.canonical) for w in wallets],
                points_stats.site_stats(conn),
                [referral_codes.code_of_wallet(conn, w.canonical) for w in wallets],
            )

    before = state()
    for name in ("points", "points_site_stats", "referral_codes"):
        system.projections.replay(name)

    assert state() == before


# -- first login and referrals ----------------------------------------------------------------------


def test_the_first_login_earns_points_once(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    assert authenticate(client, wallet).status_code == 200
    assert authenticate(client, wallet).status_code == 200

    data = points(client, wallet)
    assert data["pointsEarned"] == "10" and data["totalActivities"] == 1


def test_the_wildduck_login_bridge_earns_first_login_points(client: falcon.testing.TestClient) -> None:
    wallet = SolanaWallet()
    message = sign_in_message(client, wallet)
    body = {"username": wallet.address, "message": message, "signature": wallet.sign(message)}
    for _ in range(2):
        got = client.simulate_post("/api/authenticate", json=body, headers={"X-Access-Token": ROOT_TOKEN})
        assert got.status_code == 200, got.text
    assert points(client, wallet)["pointsEarned"] == "10"


def test_a_referral_code_is_nine_letters_or_digits_issued_once(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    first = referral_code(client, wallet)
    again = client.simulate_post(
        f"/idx/api/wallets/{wallet.canonical}/referral", headers=sign_in_headers(client, wallet)
    ).json["data"]

    assert re.fullmatch(r"[A-Z0-9]{9}", first["referralCode"])
    assert again == first
    assert first["walletAddress"] == wallet.canonical and first["chainType"] == "evm"
    assert first["totalReferrals"] == first["totalRedemptions"] == 0 and first["lastUsedAt"] is None
    assert referral_code(client, EvmWallet())["referralCode"] != first["referralCode"]


def test_making_a_referral_code_needs_the_wallets_own_signature(client: falcon.testing.TestClient) -> None:
    wallet, other = EvmWallet(), EvmWallet()
    path = f"/idx/wallets/{wallet.address}/referral"
    assert client.simulate_post(path).status_code == 401
    assert client.simulate_post(path, headers=sign_in_headers(client, other)).status_code == 401


def test_a_referral_pays_the_referrer_once_the_referee_signs_in(client: falcon.testing.TestClient) -> None:
    referrer, referee = EvmWallet(), SolanaWallet()
    code = referral_code(client, referrer)["referralCode"]
    headers = sign_in_headers(client, referee)

    accounts = client.simulate_get(
        f"/idx/wallets/{referee.address}/accounts", headers={**headers, "x-referral": code.lower()}
    )
    assert accounts.status_code == 200
    assert points(client, referrer)["pointsEarned"] == "0"  # not before the referee signs in
    assert authenticate(client, referee).status_code == 200
    assert authenticate(client, referee).status_code == 200

    assert points(client, referrer)["pointsEarned"] == "50"
    assert points(client, referee)["pointsEarned"] == "10"
    stats = client.simulate_post(f"/idx/referrals/{code}/stats")
    assert stats.status_code == 200, stats.text
    data = stats.json["data"]
    assert data["total"] == data["totalReferrals"] == 1
    assert data["walletAddress"] == referrer.canonical and data["referralCode"] == code
    assert data["consumptions"] == [
        {
            "walletAddress": referee.address,
            "chainType": "solana",
            "referralCode": code,
            "createdAt": data["consumptions"][0]["createdAt"],
        }
    ]
    assert "ipAddress" not in stats.text
    assert referral_code(client, referrer)["totalReferrals"] == 1


def test_a_referrer_on_authenticate_counts_and_pays_once(client: falcon.testing.TestClient) -> None:
    referrer, referee = SolanaWallet(), EvmWallet()
    code = referral_code(client, referrer)["referralCode"]

    assert authenticate(client, referee, referrer=code).status_code == 200
    assert authenticate(client, referee, referrer=code).status_code == 200
    other = referral_code(client, EvmWallet())["referralCode"]
    assert authenticate(client, referee, referrer=other).status_code == 200  # a second code is ignored

    assert points(client, referrer)["pointsEarned"] == "50"
    assert client.simulate_post(f"/idx/referrals/{other}/stats").json["data"]["total"] == 0


def test_a_referral_already_signed_in_pays_when_the_code_arrives(client: falcon.testing.TestClient) -> None:
    referrer, referee = EvmWallet(), EvmWallet()
    assert authenticate(client, referee).status_code == 200
    code = referral_code(client, referrer)["referralCode"]

    got = client.simulate_post(
        f"/idx/wallets/{referee.address}/points/add", json={"action": "send", "referrer": code}, remote_addr=MAIL_SERVER
    )

    assert got.status_code == 200
    assert points(client, referrer)["pointsEarned"] == "50"


def test_self_referral_and_unknown_codes_are_ignored(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    own = referral_code(client, wallet)["referralCode"]
    headers = sign_in_headers(client, wallet)

    for code in (own, "ZZZZZZZZZ", "not-a-code!"):
        got = client.simulate_get(f"/idx/wallets/{wallet.address}/accounts", headers={**headers, "x-referral": code})
        assert got.status_code == 200
    assert authenticate(client, wallet, referrer=own).status_code == 200

    assert points(client, wallet)["pointsEarned"] == "10"  # its first login only
    assert client.simulate_post(f"/idx/referrals/{own}/stats").json["data"]["total"] == 0
    # The referral that did not count leaves the wallet free to be referred by someone else.
    friend = referral_code(client, EvmWallet())["referralCode"]
    client.simulate_get(f"/idx/wallets/{wallet.address}/accounts", headers={**headers, "x-referral": friend})
    assert client.simulate_post(f"/idx/referrals/{friend}/stats").json["data"]["total"] == 1


@pytest.mark.parametrize(("code", "status"), [("ABC123XYZ", 404), ("short", 400), ("ABC123XY!", 400)])
def test_statistics_of_unknown_or_malformed_codes(client: falcon.testing.TestClient, code: str, status: int) -> None:
    got = client.simulate_post(f"/idx/referrals/{code}/stats")
    assert got.status_code == status and got.json["success"] is False
