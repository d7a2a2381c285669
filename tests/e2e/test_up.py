"""`chainmail up`: every service starts, a killed one is restarted, SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import ROOT_TOKEN, chainmail, chainmail_env, free_port


def supervisor_events(log: Path) -> list[dict]:
    events = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("logger", "").endswith("supervisor") or "service" in event:
                events.append(event)
    return events


def wait_for(condition, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text(errors='replace')[-4000:]}")


def pids(log: Path, event: str = "started") -> dict[str, list[int]]:
    started: dict[str, list[int]] = {}
    for item in supervisor_events(log):
        if item.get("event") == event:
            started.setdefault(item["service"], []).append(item["pid"])
    return started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


HEALTHY_ANSWERS = [0]  # health checks the client saw answered 200


def api_healthy(url: str) -> bool:
    try:
        healthy = httpx.get(f"{url}/api/health", headers={"X-Access-Token": ROOT_TOKEN}).status_code == 200
    except httpx.TransportError:
        return False
    HEALTHY_ANSWERS[0] += healthy
    return healthy


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{url}/metrics", headers={"X-Access-Token": ROOT_TOKEN})
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


@pytest.mark.e2e
def test_up_supervises_every_service(database_url: str, tmp_path: Path) -> None:
    HEALTHY_ANSWERS[0] = 0
    port, smtp_port = free_port(), free_port()
    env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_PORT=str(port), CHAINMAIL_WORKERS="2")
    env["CHAINMAIL_LOG_LEVEL"] = "info"  # the supervisor reports starts, exits and stops at info
    log = tmp_path / "up.log"
    up = chainmail("up", "--smtp-port", str(smtp_port), env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: api_healthy(url) and len(pids(log)) == 4, "every service", log, timeout=180)
        first = {name: found[0] for name, found in pids(log).items()}
        assert set(first) == {"api", "project", "deliver", "smtp"}  # no chain configured: no indexer
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250
            smtp.ehlo()
            smtp.mail("someone@elsewhere.test")
            assert smtp.rcpt("nobody@example.com")[0] == 550
        for _ in range(20):
            assert api_healthy(url)
        # both gunicorn workers' counts and the SMTP receiver's, summed from the shared metrics directory
        scraped = metrics(url)
        health = (("method", "GET"), ("route", "/api/health"), ("status", "200"))
        # every health check the client saw answered is counted, whichever worker answered it
        assert scraped[("chainmail_http_requests_total", health)] >= HEALTHY_ANSWERS[0] >= 20
        assert scraped[("chainmail_smtp_messages_total", (("outcome", "refused"),))] == 1

        os.kill(first["project"], signal.SIGKILL)
        wait_for(lambda: len(pids(log).get("project", [])) == 2, "the projector's restart", log, timeout=30)
        restarted = pids(log)["project"][1]
        assert restarted != first["project"] and alive(restarted)
        assert all(alive(first[name]) for name in ("api", "deliver", "smtp"))
        exits = [e for e in supervisor_events(log) if e.get("event") == "exited"]
        assert [(e["service"], e["code"]) for e in exits] == [("project", -signal.SIGKILL)]
        # the restarted projector still folds what the API records
        created = httpx.post(
            f"{url}/api/users",
            json={"username": "afterrestart", "password": "secret-pass-1"},
            headers={"X-Access-Token": ROOT_TOKEN},
        )
        assert created.status_code == 200, created.text

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
        children = [pid for found in pids(log).values() for pid in found]
        assert not [pid for pid in children if alive(pid)]
        assert {e["service"] for e in supervisor_events(log) if e.get("event") == "stopped"} == {
            "api",
            "project",
            "deliver",
            "smtp",
        }
        assert not api_healthy(url)
    finally:
        if up.poll() is None:  # SIGTERM first: a killed supervisor would leave its children behind
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()


@pytest.mark.e2e
def test_a_killed_supervisor_takes_its_children_with_it(database_url: str, tmp_path: Path) -> None:
    # SIGKILL gives `chainmail up` no chance to stop anything: its children stop themselves (they asked the
    # kernel for SIGTERM when their parent goes), the API's gunicorn workers with their master.
    port, smtp_port = free_port(), free_port()
    env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_PORT=str(port), CHAINMAIL_WORKERS="2")
    env["CHAINMAIL_LOG_LEVEL"] = "info"
    log = tmp_path / "up.log"
    up = chainmail("up", "--smtp-port", str(smtp_port), env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: api_healthy(url) and len(pids(log)) == 4, "every service", log, timeout=180)
        children = [found[0] for found in pids(log).values()]
        workers = [int(p) for c in children for p in _children_of(c)]
        assert workers, "the API's gunicorn master has its workers"
        up.kill()
        up.wait()
        wait_for(lambda: not [p for p in children + workers if alive(p)], "the children to stop", log, timeout=60)
        assert not api_healthy(url)
    finally:
        for pid in [found[0] for found in pids(log).values()]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _children_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
