"""`GET /metrics`: Prometheus' text format for the root token: requests per route template, events per context,
read-model lag, chain heads and checkpoints, the delivery queue."""

from __future__ import annotations

from datetime import UTC, datetime

import falcon.testing
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from chainmail.domain.rewards.application import Rewards
from chainmail.projections.blocks import evm_chain_heads, evm_checkpoints
from chainmail.projections.tracking import read_position
from chainmail.store.events import max_notification_id
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN


def scrape(client: falcon.testing.TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.simulate_get("/metrics", headers={"X-Access-Token": ROOT_TOKEN})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_root_token(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/metrics", headers={"X-Access-Token": ""}).status_code == 403
    user = client.simulate_post("/api/users", json={"username": "metricsuser", "password": "secretvalue"}).json
    token = client.simulate_post(
        "/api/authenticate", json={"username": "metricsuser", "password": "secretvalue", "token": True}
    ).json["token"]
    assert user["success"]
    denied = client.simulate_get("/metrics", headers={"X-Access-Token": token})
    assert denied.status_code == 403 and denied.json["code"] == "MissingPrivileges"


def test_metrics_count_requests_events_lag_chains_and_the_queue(
    client: falcon.testing.TestClient, system: System
) -> None:
    before = scrape(client)
    for i in range(3):
        created = client.simulate_post("/api/users", json={"username": f"scraped{i}", "password": "secretvalue"})
        assert created.status_code == 200, created.text
    client.simulate_get("/api/users/0123456789abcdef01234567")  # 404
    sender = client.simulate_post("/api/users", json={"username": "sender", "password": "secretvalue"}).json["id"]
    submitted = client.simulate_post(
        f"/api/users/{sender}/submit", json={"to": [{"address": "someone@elsewhere.test"}], "text": "hello"}
    )
    assert submitted.status_code == 200, submitted.text
    with system.engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(
            insert(evm_chain_heads).values(chain_id=31337, name="anvil", head_block=120, updated=now, error=None)
        )
        conn.execute(insert(evm_checkpoints).values(chain_id=31337, block_number=100, logs=0, reverts=0))
    after = scrape(client)

    created_key = {"method": "POST", "route": "/api/users", "status": "200"}
    assert (
        value(after, "chainmail_http_requests_total", **created_key)
        - value(before, "chainmail_http_requests_total", **created_key)
        == 4  # three users and the sender
    )
    missing = {"method": "GET", "route": "/api/users/{user}", "status": "404"}
    assert value(after, "chainmail_http_requests_total", **missing) >= 1
    assert value(after, "chainmail_http_request_duration_seconds_count", method="POST", route="/api/users") >= 3
    assert value(after, "chainmail_store_up") == 1
    assert (
        value(after, "chainmail_events_total", context="Mail")
        >= value(before, "chainmail_events_total", context="Mail") + 3
    )
    # Inline read models (users) change with their events: no tracking, no lag to show.
    assert ("chainmail_read_model_position", (("context", "Mail"), ("read_model", "users"))) not in after
    # Asynchronous ones (site statistics): the context's last notification less the tracked position, and
    # the events of the kinds it folds still to come.
    rewards = system.context(Rewards)
    for wallet in ("0x" + "1" * 40, "0x" + "2" * 40):
        rewards.award(wallet, "evm", "send")
    system.projections.catch_up_all()
    rewards.award("0x" + "3" * 40, "evm", "send")
    after = scrape(client)
    with system.engine.connect() as conn:
        tracked = read_position(conn, "points_site_stats", "Rewards")
        assert tracked is not None
        expected = max_notification_id(conn, "Rewards") - tracked.id
    stats = {"read_model": "points_site_stats", "context": "Rewards"}
    assert value(after, "chainmail_read_model_position", **stats) == tracked.id > 0
    assert value(after, "chainmail_read_model_lag_notifications", **stats) == expected > 0
    assert value(after, "chainmail_read_model_pending_events", **stats) == 1
    assert value(after, "chainmail_read_model_failing", **stats) == 0
    pending = [v for k, v in after.items() if k[0] == "chainmail_read_model_pending_events"]
    assert pending and all(v >= 0 for v in pending)
    lags = {k[1]: v for k, v in after.items() if k[0] == "chainmail_read_model_lag_notifications"}
    assert lags and all(v >= 0 for v in lags.values())
    assert value(after, "chainmail_chain_head_block", chain_id="31337", chain="anvil") == 120
    assert value(after, "chainmail_chain_checkpoint_block", chain_id="31337") == 100
    assert value(after, "chainmail_chain_lag_blocks", chain_id="31337") == 20
    assert value(after, "chainmail_delivery_queue", status="queued") == 1
