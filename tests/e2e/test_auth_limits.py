"""Under `chainmail serve` with 4 gunicorn workers, concurrent password guesses share one budget: exactly
twelve are checked, every other one is refused as rate limited, whichever worker takes it."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import ROOT_TOKEN

GUESSES = 30


@pytest.mark.e2e
def test_concurrent_guesses_across_workers_check_at_most_twelve_passwords(database_url: str, server_factory) -> None:
    server = server_factory(database_url, workers=4)
    created = httpx.post(
        f"{server.url}/api/users",
        json={"username": "target", "password": "the-right-one"},
        headers={"X-Access-Token": ROOT_TOKEN},
        timeout=60,
    )
    assert created.status_code == 200, created.text

    def guess(n: int) -> str:
        # A fresh connection per request lets gunicorn hand the guesses to different workers.
        result = httpx.post(
            f"{server.url}/api/authenticate",
            json={"username": "target", "password": f"guess-{n}"},
            headers={"X-Access-Token": ROOT_TOKEN},
            timeout=60,
        )
        assert result.status_code == 403, result.text
        return result.json()["code"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = Counter(pool.map(guess, range(GUESSES)))
    right = httpx.post(
        f"{server.url}/api/authenticate",
        json={"username": "target", "password": "the-right-one"},
        headers={"X-Access-Token": ROOT_TOKEN},
        timeout=60,
    )

    assert codes == {"AuthFailed": 12, "RateLimitedError": GUESSES - 12}
    assert (right.status_code, right.json()["code"]) == (403, "RateLimitedError")
