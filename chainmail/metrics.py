"""Prometheus metrics: request counts and latency (per process, summed across gunicorn workers and the other
chainmail processes of one machine through prometheus_client's multiprocess files), and the store's own figures
(events per context, read-model lag, chain heads, the delivery queue) read when scraped."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from chainmail.http.errors import WildDuckError

log = structlog.get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_REQUESTS = Counter(
    "chainmail_http_requests", "HTTP requests answered, per route template and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "chainmail_http_request_duration_seconds",
    "Time to answer an HTTP request, per route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SMTP_MESSAGES = Counter(
    "chainmail_smtp_messages",
    "Inbound SMTP/LMTP recipients: accepted (2xx), refused (5xx) or deferred (4xx)",
    ["outcome"],
)


def smtp_outcome(answer: str) -> str:
    """Count one recipient's SMTP answer and hand it back."""
    SMTP_MESSAGES.labels(outcome={"2": "accepted", "4": "deferred"}.get(answer[:1], "refused")).inc()
    return answer


def fresh_multiprocess_dir(path: Path) -> None:
    """Empty the directory the processes of one machine write their metrics to, and point this process at it
    (before its children start: they inherit the variable)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path.resolve())


def mark_process_dead(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class RequestMetrics:
    """Falcon middleware: one count and one latency observation per answered request, labelled by the
    route's URI template (never the raw path: ids would make a series per object)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        started = getattr(req.context, "metrics_started", None)
        if started is None:
            return
        route = req.uri_template or "unmatched"
        HTTP_REQUESTS.labels(req.method, route, str(resp.status_code)).inc()
        HTTP_LATENCY.labels(req.method, route).observe(time.perf_counter() - started)


class StoreCollector(Collector):
    """Figures read from the database at scrape time: right whichever process or machine made them.

    Read-only: the tracking rows are read, never locked or moved."""

    def __init__(self, engine: Engine, contexts: list[str], topics: dict[str, frozenset[str]] | None = None) -> None:
        self.engine, self.contexts, self.topics = engine, contexts, topics or {}

    def collect(self) -> Iterator[Any]:
        from chainmail.projections.blocks import evm_chain_heads, evm_checkpoints
        from chainmail.projections.outbound import outbound_queue
        from chainmail.projections.tracking import projection_tracking
        from chainmail.store.events import max_notification_id

        events = CounterMetricFamily("chainmail_events", "Events appended, per bounded context", labels=["context"])
        lag = GaugeMetricFamily(
            "chainmail_read_model_lag_notifications",
            "Notifications of a context's event store a read model has not folded yet",
            labels=["read_model", "context"],
        )
        position = GaugeMetricFamily(
            "chainmail_read_model_position", "Last notification a read model folded", labels=["read_model", "context"]
        )
        pending = GaugeMetricFamily(
            "chainmail_read_model_pending_events",
            "Events after a read model's position of the kinds it folds: the work it has left",
            labels=["read_model", "context"],
        )
        head = GaugeMetricFamily("chainmail_chain_head_block", "The node's head block", labels=["chain_id", "chain"])
        checkpoint = GaugeMetricFamily(
            "chainmail_chain_checkpoint_block", "The last block indexed", labels=["chain_id"]
        )
        chain_lag = GaugeMetricFamily(
            "chainmail_chain_lag_blocks", "Blocks between the node's head and the checkpoint", labels=["chain_id"]
        )
        queue = GaugeMetricFamily(
            "chainmail_delivery_queue",
            "Outbound deliveries per status (queued and deferred are due)",
            labels=["status"],
        )
        failing = GaugeMetricFamily(
            "chainmail_read_model_failing",
            "1 when a read model is stopped at an event it could not fold (the error is in its tracking)",
            labels=["read_model", "context"],
        )
        up = GaugeMetricFamily("chainmail_store_up", "1 when the database answered the scrape")
        try:
            with self.engine.connect() as conn:
                latest = {}
                for context in self.contexts:
                    latest[context] = max_notification_id(conn, context)
                    events.add_metric([context], latest[context])
                # Inline read models change with the events themselves and have no tracking: never behind.
                t = projection_tracking.c
                for name, context, at, tx, error in conn.execute(
                    select(t.projection, t.application, t.position, t.tx, t.error)
                ).all():
                    position.add_metric([name, context], at)
                    failing.add_metric([name, context], 1 if error else 0)
                    if context in latest:
                        lag.add_metric([name, context], max(0, latest[context] - at))
                        if self.topics.get(name):
                            pending.add_metric([name, context], _pending(conn, context, at, tx, self.topics[name]))
                heads = {row.chain_id: row for row in conn.execute(select(evm_chain_heads)).all()}
                checkpoints = dict(
                    conn.execute(select(evm_checkpoints.c.chain_id, evm_checkpoints.c.block_number)).all()
                )
                for chain_id, row in heads.items():
                    if row.head_block is not None:
                        head.add_metric([str(chain_id), row.name], row.head_block)
                for chain_id, block in checkpoints.items():
                    checkpoint.add_metric([str(chain_id)], block)
                    known = heads.get(chain_id)
                    if known is not None and known.head_block is not None:
                        chain_lag.add_metric([str(chain_id)], max(0, known.head_block - block))
                statuses = conn.execute(
                    select(outbound_queue.c.status, func.count()).group_by(outbound_queue.c.status)
                ).all()
                for status, count in statuses:
                    queue.add_metric([status], count)
            up.add_metric([], 1)
        except SQLAlchemyError as error:
            log.warning("metrics: the store did not answer", error=str(error))
            up.add_metric([], 0)
        yield from (up, events, position, lag, pending, failing, head, checkpoint, chain_lag, queue)


def _pending(conn: Any, context: str, after: int, tx: int, topics: frozenset[str]) -> int:
    """Events past a position in the order read models fold them (commit order: (tx, id) on PostgreSQL)."""
    past = "rowid > :after" if conn.dialect.name == "sqlite" else "(tx, notification_id) > (:tx, :after)"
    table = conn.dialect.identifier_preparer.quote(f"{context.lower()}_events")
    query = text(f"SELECT COUNT(*) FROM {table} WHERE {past} AND topic IN :topics").bindparams(
        bindparam("topics", expanding=True)
    )
    return int(conn.execute(query, {"after": after, "tx": tx, "topics": sorted(topics)}).scalar_one())


def scrape(engine: Engine, contexts: list[str], topics: dict[str, frozenset[str]] | None = None) -> bytes:
    """The text exposition: this machine's process metrics, then the store's."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
        own = generate_latest(processes)
    else:
        own = generate_latest(REGISTRY)
    store = CollectorRegistry()
    store.register(StoreCollector(engine, contexts, topics))
    return own + generate_latest(store)


class MetricsResource:
    """`GET /metrics` for the root token: Prometheus' text format."""

    def __init__(self, engine: Engine, contexts: list[str], topics: dict[str, frozenset[str]]) -> None:
        self.engine, self.contexts, self.topics = engine, contexts, topics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = getattr(req.context, "principal", None)
        if principal is None or not principal.is_root:
            raise WildDuckError(403, "MissingPrivileges", "The metrics need the root access token")
        body = scrape(self.engine, self.contexts, self.topics)
        resp.content_type = CONTENT_TYPE
        resp.data = body
