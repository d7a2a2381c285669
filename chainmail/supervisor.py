"""`chainmail up`: the API, projections, indexer, delivery and SMTP receiver as supervised child processes."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from chainmail.config import Settings
from chainmail.domain.chain.chains import chain_specs

log = structlog.get_logger(__name__)

FIRST_BACKOFF = 1.0  # seconds before the first restart of a child that died
MAX_BACKOFF = 30.0
STEADY_AFTER = 30.0  # a child that ran this long before dying is restarted after FIRST_BACKOFF again
STOP_GRACE = 30.0  # seconds children get to stop after SIGTERM before they are killed
SERVICES = ("api", "project", "index", "deliver", "smtp")


@dataclass
class Service:
    """One supervised command: its name, its arguments after `chainmail`, and its current process."""

    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    restarts: int = 0
    exits: list[int] = field(default_factory=list)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "chainmail.cli", *self.args]


def services_for(settings: Settings, *, smtp_host: str, smtp_port: int, without: Sequence[str] = ()) -> list[Service]:
    """The children `chainmail up` runs: the indexer only when a chain is configured for indexing."""
    services = [
        Service("api", ["serve"]),
        Service("project", ["project"]),
        Service("index", ["index"]),
        Service("deliver", ["deliver"]),
        Service("smtp", ["smtp", "--host", smtp_host, "--port", str(smtp_port)]),
    ]
    specs = chain_specs(settings.chains, enable_testnets=settings.enable_testnets)
    indexable = any(spec.deployments for spec in specs)
    return [s for s in services if s.name not in without and (s.name != "index" or indexable)]


def _terminated_with(parent: int) -> Callable[[], None] | None:
    """A child's first step (Linux): SIGTERM for it when `parent` ends, kept across exec (gunicorn's master)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def step() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor went before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return step if sys.platform.startswith("linux") else None


class Supervisor:
    """Starts each service, restarts one that dies (backing off 1 s, 2 s, 4 s ... 30 s), stops all on SIGTERM."""

    def __init__(self, services: list[Service], *, poll_interval: float = 0.2, stop_grace: float = STOP_GRACE) -> None:
        self.services = services
        self.poll_interval = poll_interval
        self.stop_grace = stop_grace
        self.stopping = threading.Event()

    def install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self._stop_requested(signum))

    def _stop_requested(self, signum: int) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        self.stopping.set()

    def _start(self, service: Service) -> None:
        # Each child gets its own process group: a terminal's Ctrl-C reaches only the supervisor, which
        # then stops the children in order instead of all of them racing at once.
        # And each dies with the supervisor (SIGTERM when it goes, even by SIGKILL): no orphans keep the ports.
        service.process = subprocess.Popen(
            service.command(), start_new_session=True, preexec_fn=_terminated_with(os.getpid())
        )
        service.started_at = time.monotonic()
        service.restart_at = None
        log.info("started", service=service.name, pid=service.process.pid, restarts=service.restarts)

    def _check(self, service: Service, now: float) -> None:
        if service.process is None:
            if service.restart_at is not None and now >= service.restart_at:
                service.restarts += 1
                self._start(service)
            return
        code = service.process.poll()
        if code is None:
            return
        ran = now - service.started_at
        service.exits.append(code)
        service.process = None
        if ran >= STEADY_AFTER:
            service.backoff = FIRST_BACKOFF
        service.restart_at = now + service.backoff
        log.warning("exited", service=service.name, code=code, ran_seconds=round(ran, 1), restart_in=service.backoff)
        service.backoff = min(service.backoff * 2, MAX_BACKOFF)

    def run(self) -> None:
        """Supervise until SIGTERM/SIGINT (or `stopping` is set), then stop every child."""
        try:
            for service in self.services:
                self._start(service)
            while not self.stopping.wait(self.poll_interval):
                now = time.monotonic()
                for service in self.services:
                    self._check(service, now)
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        running = [s for s in self.services if s.process is not None and s.process.poll() is None]
        for service in running:
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for service in running:
            assert service.process is not None
            try:
                service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("killing", service=service.name, pid=service.process.pid)
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()
            log.info("stopped", service=service.name, code=service.process.returncode)
