"""Write and read path figures of `chainmail serve` beside a bare Falcon app, printed (not a test).

    apt-get install -y wrk        # the load generator (C, one connection per wrk thread, driven by Lua)
    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.write_path [--seconds 10] [--workers 4] [--sqlite] [--nodes]
        [--mixed 60]

It measures whatever `chainmail` is on the PYTHONPATH. On a throwaway PostgreSQL database it runs
`chainmail migrate`, starts `chainmail serve` as an operator would, and beside it the bare Falcon app of
benchmarks/bare_falcon.py under gunicorn with the same settings (ops/gunicorn.conf.py, the same workers).
Then, for a fixed time each:

- writes at 1, 4 and 16 clients: the bare `INSERT ... RETURNING` + commit, small RFC 822 uploads (each
  client into its own user's INBOX), user creation, flag updates (`seen` toggled) and points awards
  (`POST /idx/wallets/:w/points/add`, each client to 500 wallets in turn), and 16 clients into
  one hot INBOX, whose UIDs are then checked through the API (unique, increasing, as many as acknowledged);
- reads at 64 connections: `GET /api/users/:id`, a message listing (first page of a 100-message mailbox),
  `GET /idx/points/leaderboard/100`, beside a bare GET of a small JSON document and one of a row by key.

Each row gives requests/s, p50 and p99 (measured per request by the generator, no coordinated-omission
correction), the ratio to the bare app and the answers that were not 2xx (a request that a broken
connection left without an answer counts as one; they must be 0), with the load average at the end of
the run; then the targets of issue 12, each met or not (reads against the bare JSON GET). `--sqlite`
repeats everything on the embedded SQLite default (2 workers). `--nodes` runs two `chainmail serve` on one
PostgreSQL database, with `chainmail project` and `chainmail deliver` beside them: uploads (own INBOX, one hot
INBOX) and flag updates on the first node alone, then with the clients spread over both, and the most
connections the database had at once. `--mixed 60` runs, on a fresh PostgreSQL server pair, 16 clients that each
create a user, upload, read, flag and list in turn for 60 s (the issue's mixed load). Exits 1 if an answer
was not 2xx or the hot INBOX check failed (not when a target is missed: the figures are for reading).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import itertools
import json
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from gunicorn.util import load_class
from gunicorn.workers.gasgi import ASGIWorker

import chainmail
from benchmarks import bare_falcon
from benchmarks._stores import database

TOKEN = "write-path-benchmark-token"
HERE = Path(__file__).resolve().parent
GUNICORN_CONF = Path(chainmail.__file__).resolve().parents[1] / "ops" / "gunicorn.conf.py"
UNIQUE = "@N@"  # replaced by the generator with a token unique to the request
SMALL_MESSAGE = (
    "From: Bench Sender <sender@example.org>\r\n"
    "To: Bench Reader <reader@example.com>\r\n"
    f"Subject: write path {UNIQUE}\r\n"
    f"Message-ID: <{UNIQUE}.write-path@example.org>\r\n"
    "Date: Fri, 04 Dec 2026 18:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "A small message for the write path benchmark, a few lines long.\r\n"
    "Nothing in it but text.\r\n"
)
RFC822 = {"Content-Type": "message/rfc822"}
# a sent message: kept in Sent and queued (nothing delivers it here); the users the benchmark sends from get a
# daily recipient limit no run reaches (WildDuck's default, 2,000, is a few seconds of one client)
SENDING_LIMIT = 10_000_000
SUBMISSION = json.dumps({"to": [{"address": "reader@example.org"}], "subject": "write path", "text": "A few words."})
JSON = {"Content-Type": "application/json"}
LISTING_SIZE = 100
POINTS_WALLETS = 200
AWARDED_WALLETS = 500  # per client: points/add in turn to each, a few dozen awards a day each at most

# One wrk thread per connection, so each client has its own cycle of requests and the generator times each
# request itself (from request() to response()). A client stops after its first answer past the deadline:
# nothing is left in flight, so the acknowledged answers are all the server did.
LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads, created = {}, 0
function setup(thread)
  created = created + 1
  thread:set("client", created)
  threads[created] = thread
end

function init(args)
  cycle = PLAN.clients[(client - 1) % #PLAN.clients + 1]
  for _, item in ipairs(cycle) do
    item.headers["Host"] = wrk.headers["Host"]
    if not item.body or not item.body:find("@N@", 1, true) then
      item.ready = wrk.format(item.method, item.path, item.headers, item.body)
    end
  end
  position, sent, first, last, started = 1, 0, nil, nil, nil
  latencies, statuses, errors, ids = {}, {}, {}, {}
end

function request()
  local item = cycle[position]
  position = position % #cycle + 1
  sent = sent + 1
  local text = item.ready
  if not text then
    local body = item.body:gsub("@N@", PLAN.run .. "c" .. client .. "n" .. sent)
    text = wrk.format(item.method, item.path, item.headers, body)
  end
  started = now()
  if not first then first = started end
  return text
end

function response(status, headers, body)
  last = now()
  latencies[#latencies + 1] = math.floor((last - started) * 1e6)  -- microseconds
  statuses[status] = (statuses[status] or 0) + 1
  if PLAN.capture and status >= 200 and status <= 299 then
    ids[#ids + 1] = body:match('"message":%s*{%s*"id":%s*(%d+)') or "-1"
  end
  if (status < 200 or status > 299) and #errors < 3 then
    errors[#errors + 1] = status .. " " .. body:sub(1, 300):gsub("%s+", " ")
  end
  if last - first >= PLAN.duration then
    io.write("stopped\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    print(string.format("CLIENT %.6f %.6f %d", thread:get("first") or 0, thread:get("last") or 0, thread:get("sent")))
    for status, count in pairs(thread:get("statuses")) do print("STATUS " .. status .. " " .. count) end
    for _, text in ipairs(thread:get("errors")) do print("ERROR " .. text) end
    print("LATENCIES " .. table.concat(thread:get("latencies"), " "))
    print("IDS " .. table.concat(thread:get("ids"), " "))
  end
  local e = summary.errors
  print(string.format("SOCKET %d %d %d %d", e.connect, e.read, e.write, e.timeout))
end
"""


# -- the load generator ------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    clients: int
    rate: float
    p50: float
    p99: float
    statuses: dict[int, int]
    errors: list[str]
    load: float
    ids: list[list[int]]  # per client, the message ids its uploads were answered with (when captured)
    dropped: int = 0  # connections that failed (connect, read or write errors): requests without an answer
    checked: bool = True  # what was written is what the API shows (the hot INBOX run)
    latencies: list[float] = field(default_factory=list)  # ms, sorted
    window: float = float("nan")  # seconds from the first request's start to the last answer

    @property
    def failed(self) -> int:
        return self.dropped + sum(n for status, n in self.statuses.items() if not 200 <= status <= 299)


def _lua_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
    return f'"{escaped}"'


def _lua_plan(duration: float, cycles: list[list[Req]], run: str, capture: bool) -> str:
    def item(req: Req) -> str:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items())
        body = _lua_string(req.body) if req.body is not None else "nil"
        method, path = _lua_string(req.method), _lua_string(req.path)
        return f"{{method = {method}, path = {path}, headers = {{{headers}}}, body = {body}}}"

    clients = ",\n".join("  {" + ", ".join(item(r) for r in cycle) + "}" for cycle in cycles)
    settings = f"duration = {duration}, run = {_lua_string(run)}, capture = {str(capture).lower()}"
    return f"PLAN = {{{settings}, clients = {{\n{clients}\n}}}}\n"


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def drive(port: int, clients: int, cycles: list[list[Req]], seconds: float, run: str, capture: bool = False) -> Result:
    """`clients` keep-alive connections, client i cycling through `cycles[i % len(cycles)]`, for `seconds`;
    `capture` keeps the message ids that uploads answer, per client, in `Result.ids`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua_plan(seconds, cycles, run, capture) + LUA)
    try:
        command = ["wrk", "-t", str(clients), "-c", str(clients), "-d", f"{int(seconds) + 120}s", "--timeout", "60s"]
        command += ["-s", script.name, f"http://127.0.0.1:{port}"]
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wrk.stdout is not None
        stopped = 0
        while stopped < clients:  # wrk itself waits for its -d; stop it once every client has stopped
            line = wrk.stdout.readline()
            if not line:
                break
            stopped += line.strip() == "stopped"
        if wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)  # once: a second one could cut wrk's report short
        output, problems = wrk.communicate(timeout=120)
    finally:
        os.unlink(script.name)
    if wrk.returncode != 0:
        raise SystemExit(f"wrk failed ({wrk.returncode}): {problems}")
    firsts, lasts, latencies, statuses, errors, ids, dropped = [], [], [], {}, [], [], 0
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "CLIENT":
            first, last, _sent = rest.split()
            if float(first):
                firsts.append(float(first))
                lasts.append(float(last))
        elif kind == "STATUS":
            status, count = rest.split()
            statuses[int(status)] = statuses.get(int(status), 0) + int(count)
        elif kind == "ERROR":
            errors.append(rest)
        elif kind == "IDS":
            ids.append([int(x) for x in rest.split()])
        elif kind == "LATENCIES":
            latencies += [int(x) / 1000 for x in rest.split()]
        elif kind == "SOCKET" and any(int(n) for n in rest.split()[:3]):
            dropped = sum(int(n) for n in rest.split()[:3])
            errors.append(f"socket errors (connect, read, write, timeout): {rest}")
    latencies.sort()
    window = max(lasts) - min(firsts) if firsts else float("nan")
    return Result(
        clients=clients,
        rate=len(latencies) / window if window else float("nan"),
        p50=_percentile(latencies, 0.50),
        p99=_percentile(latencies, 0.99),
        statuses=statuses,
        errors=errors,
        load=os.getloadavg()[0],
        ids=ids,
        dropped=dropped,
        latencies=latencies,
        window=window,
    )


def drive_nodes(
    ports: list[int], clients: int, cycles: list[list[Req]], seconds: float, run: str, capture: bool = False
) -> Result:
    """`drive` with the clients spread over several servers at once (client i on `ports[i % len(ports)]`,
    keeping its own cycle), as one result: requests/s summed, percentiles over every request."""
    n = len(ports)
    shares = [
        (port, clients // n + (i < clients % n), cycles[i::n] or cycles, f"{run}n{i}") for i, port in enumerate(ports)
    ]
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        parts = list(pool.map(lambda share: drive(*share[:3], seconds, share[3], capture), shares))
    latencies = sorted(x for part in parts for x in part.latencies)
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return Result(
        clients=clients,
        rate=sum(part.rate for part in parts),
        p50=_percentile(latencies, 0.50),
        p99=_percentile(latencies, 0.99),
        statuses=statuses,
        errors=[e for part in parts for e in part.errors],
        load=os.getloadavg()[0],
        ids=[mine for part in parts for mine in part.ids],
        dropped=sum(part.dropped for part in parts),
        latencies=latencies,
    )


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    answer = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (answer.stdout + answer.stderr).splitlines()[0].strip()


# -- servers ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(
    name: str, command: list[str], env: dict[str, str], port: int, ready_path: str, logs: Path, cwd: Path | None = None
) -> Iterator[int]:
    """Starts `command` in a session of its own, waits until `ready_path` answers 200, stops it afterwards."""
    log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed in finally, after the process
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                tail = (logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited with {process.returncode}:\n{tail}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", ready_path, headers={"X-Access-Token": TOKEN})
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not answer on port {port} within 90 s")
            time.sleep(0.3)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


class Api:
    """A keep-alive client per thread for the setup calls (not timed)."""

    def __init__(self, port: int) -> None:
        self.port, self.local = port, threading.local()

    def call(self, method: str, path: str, body: Any = None, raw: str | None = None) -> dict[str, Any]:
        if not hasattr(self.local, "conn"):
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"X-Access-Token": TOKEN, **(RFC822 if raw is not None else JSON)}
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        self.local.conn.request(method, path, body=payload, headers=headers)
        answer = self.local.conn.getresponse()
        data = json.loads(answer.read() or b"{}")
        if not 200 <= answer.status <= 299:
            raise SystemExit(f"setup call {method} {path} answered {answer.status}: {data}")
        return data


def message(n: int | str) -> str:
    return SMALL_MESSAGE.replace(UNIQUE, f"setup{n}")


# -- the run -------------------------------------------------------------------------------------------------


@dataclass
class Fixtures:
    inboxes: list[tuple[str, str]]  # (user, INBOX) of each client
    flagged: list[int]  # a message in each client's INBOX
    hot: tuple[str, str]
    listing: tuple[str, str]
    awarded: list[list[str]]  # the wallets each client awards points to, in turn (the daily cap is 100 each)


def prepare(api: Api, clients: int) -> Fixtures:
    """Users (one per client, a hot one, a listing one), their INBOXes, messages and points to read."""
    pool = concurrent.futures.ThreadPoolExecutor(8)

    def new_user(n: int) -> tuple[str, str]:
        account = {"username": f"setup{n}", "password": "benchmark-password", "recipients": SENDING_LIMIT}
        user = api.call("POST", "/api/users", account)["id"]
        boxes = api.call("GET", f"/api/users/{user}/mailboxes")["results"]
        return user, next(b["id"] for b in boxes if b["path"] == "INBOX")

    users = list(pool.map(new_user, range(clients + 2)))
    inboxes, hot, listing = users[:clients], users[clients], users[clients + 1]

    def upload(target: tuple[str, str], n: int) -> int:
        user, inbox = target
        return api.call("POST", f"/api/users/{user}/mailboxes/{inbox}/messages", raw=message(n))["message"]["id"]

    flagged = list(pool.map(upload, inboxes, range(clients)))
    list(pool.map(upload, [listing] * LISTING_SIZE, range(LISTING_SIZE)))
    wallets = ["0x" + secrets.token_hex(20) for _ in range(POINTS_WALLETS)]
    actions = [(w, action) for n, w in enumerate(wallets) for action in ("send", "reply", "forward")[: 1 + n % 3]]
    list(pool.map(lambda a: api.call("POST", f"/idx/wallets/{a[0]}/points/add", {"action": a[1]}), actions))
    pool.shutdown()
    awarded = [["0x" + secrets.token_hex(20) for _ in range(AWARDED_WALLETS)] for _ in range(clients)]
    return Fixtures(inboxes, flagged, hot, listing, awarded)


def print_table(
    title: str, rows: list[tuple[str, Result, list[float]]], ratio_names: list[str], *, blocks: bool = False
) -> None:
    """One block of rows per operation; each non-2xx status with its count and a sample of what it said."""
    print(f"\n{title}")
    ratios = "".join(f"{name:>9}" for name in ratio_names)
    print(f"  {'':36}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{ratios}{'non-2xx':>9}{'load':>7}")
    previous = None
    for label, result, anchors in rows:
        if blocks and previous is not None and label != previous:
            print()
        previous = label
        shown = "".join(f"{result.rate / anchor:>9.3f}" for anchor in anchors)
        print(
            f"  {label:36}{result.clients:>8}{result.rate:>9.1f}{result.p50:>9.1f}{result.p99:>9.1f}"
            f"{shown}{result.failed:>9}{result.load:>7.2f}"
        )
        failures = {status: n for status, n in sorted(result.statuses.items()) if not 200 <= status <= 299}
        if failures:
            print(f"      ! {', '.join(f'{n} x {status}' for status, n in failures.items())}")
        for text in sorted(set(result.errors))[:3]:
            print(f"      ! {text[:200]}")


def check_hot_inbox(api: Api, hot: tuple[str, str], acknowledged: list[list[int]]) -> bool:
    """The INBOX holds exactly the acknowledged uploads, under unique UIDs that grew for every client."""
    user, inbox = hot
    listed: list[int] = []
    cursor: str | bool = False
    while True:
        # newest first: paging `order=asc` repeats the last row of a page at the top of the next one
        query = f"?limit=250{f'&next={cursor}' if cursor else ''}"
        page = api.call("GET", f"/api/users/{user}/mailboxes/{inbox}/messages{query}")
        listed += [item["id"] for item in page["results"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    answered = [uid for mine in acknowledged for uid in mine]
    unique = len(set(listed)) == len(listed) and len(set(answered)) == len(answered)
    increasing = all(a < b for mine in acknowledged for a, b in itertools.pairwise(mine))
    same = sorted(listed) == sorted(answered)
    contiguous = sorted(listed) == list(range(min(listed), min(listed) + len(listed))) if listed else True
    good = unique and increasing and same
    print(
        f"  hot INBOX check: {len(listed)} messages listed, {len(answered)} uploads acknowledged"
        f"{'' if same else ' (NOT the same UIDs)'}; UIDs {'unique' if unique else 'NOT unique'}, "
        f"{'increasing' if increasing else 'NOT increasing'} for every client, "
        f"{'contiguous' if contiguous else 'with gaps'} -> {'ok' if good else 'FAILED'}"
    )
    return good


@dataclass
class Target:
    """The two servers of a section, and the setup client of chainmail's."""

    store: str
    chainmail: int
    bare: int
    api: Api

    def chainmail_request(
        self, path: str, body: str | None = None, method: str = "POST", kind: dict[str, str] = JSON
    ) -> Req:
        return Req(method, path, body, {"X-Access-Token": TOKEN, **kind})


def is_asgi(worker_class: str) -> bool:
    """Whether gunicorn's `worker_class` serves ASGI apps (gunicorn's own, or chainmail's built on it)."""
    found = load_class(worker_class, default="gunicorn.workers.sync.SyncWorker", section="gunicorn.workers")
    return issubclass(found, ASGIWorker)


@contextmanager
def servers(store: str, workers: int, threads: int) -> Iterator[Target]:
    """Throwaway databases; `chainmail migrate` and `chainmail serve`; the bare app beside it, same settings
    (a pool of as many connections as a worker has threads)."""
    with (
        database(store, migrated=False) as chainmail_url,
        database(store, migrated=False) as bare_url,
        tempfile.TemporaryDirectory() as folder,
    ):
        env = dict(os.environ, CHAINMAIL_DATABASE_URL=chainmail_url, CHAINMAIL_API_ACCESS_TOKEN=TOKEN)
        env.update(CHAINMAIL_WORKERS=str(workers), CHAINMAIL_VAR_DIR=folder, CHAINMAIL_EMAIL_DOMAIN="example.com")
        subprocess.run([sys.executable, "-m", "chainmail.cli", "migrate"], env=env, check=True, capture_output=True)
        bare_falcon.prepare(bare_url)
        chainmail_port, bare_port = free_port(), free_port()
        serve = [sys.executable, "-m", "chainmail.cli", "serve"]
        bare = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--pythonpath", str(HERE)]
        asgi = is_asgi(runpy.run_path(str(GUNICORN_CONF))["worker_class"])  # chainmail's BufferedWsgi
        bare.append("bare_falcon:served" if asgi else "bare_falcon:application")
        bare_env = {**env, "CHAINMAIL_PORT": str(bare_port), "BARE_DATABASE_URL": bare_url}
        bare_env.update(BARE_POOL_SIZE=str(threads), BARE_ASGI="1" if asgi else "")
        logs = Path(folder)
        with (
            server(
                "chainmail", serve, {**env, "CHAINMAIL_PORT": str(chainmail_port)}, chainmail_port, "/api/health", logs
            ),
            server("bare", bare, bare_env, bare_port, "/json", logs),
        ):
            yield Target(store, chainmail_port, bare_port, Api(chainmail_port))


# the names of the operations that the targets of issue 12 are checked on
BARE_INSERT = "bare INSERT ... RETURNING + commit"
UPLOAD = "upload, own INBOX"
HOT = "upload, all clients in ONE INBOX"
BARE_JSON = "bare GET small JSON (no DB)"
CHAINMAIL_READS = (
    "GET /api/users/:id",
    f"GET .../messages ({LISTING_SIZE} in mailbox)",
    "GET /idx/points/leaderboard/100",
)


def chainmail_cycles(target: Target, fixtures: Fixtures) -> dict[str, list[list[Req]]]:
    """Each client's cycle of requests for chainmail's operations, by short name (also `benchmarks.side_by_side`)."""
    at = target.chainmail_request
    listing_user, listing_inbox = fixtures.listing
    hot_user, hot_inbox = fixtures.hot
    return {
        "upload": [
            [at(f"/api/users/{u}/mailboxes/{m}/messages", SMALL_MESSAGE, kind=RFC822)] for u, m in fixtures.inboxes
        ],
        "hot": [[at(f"/api/users/{hot_user}/mailboxes/{hot_inbox}/messages", SMALL_MESSAGE, kind=RFC822)]],
        "flag": [
            [
                at(f"/api/users/{u}/mailboxes/{m}/messages/{uid}", json.dumps({"seen": seen}), "PUT")
                for seen in (False, True)
            ]
            for (u, m), uid in zip(fixtures.inboxes, fixtures.flagged, strict=True)
        ],
        "points": [
            [Req("POST", f"/idx/wallets/{w}/points/add", json.dumps({"action": "send"}), JSON) for w in wallets]
            for wallets in fixtures.awarded
        ],
        "submit": [[at(f"/api/users/{u}/submit", SUBMISSION)] for u, _ in fixtures.inboxes],
        "user": [[at(f"/api/users/{u}", method="GET")] for u, _ in fixtures.inboxes],
        "listing": [[at(f"/api/users/{listing_user}/mailboxes/{listing_inbox}/messages", method="GET")]],
        "leaderboard": [[Req("GET", "/idx/points/leaderboard/100")]],
    }


def writes(target: Target, fixtures: Fixtures, client_counts: list[int], seconds: float) -> dict[str, list[Result]]:
    """Bare insert, upload, user creation, flag update, points award at each client count, then the hot INBOX."""
    at = target.chainmail_request
    bare_insert = [[Req("POST", "/insert", SMALL_MESSAGE, {"Content-Type": "text/plain"})]]
    new_user = json.dumps({"username": f"u{UNIQUE}", "password": "benchmark-password"})
    cycles = chainmail_cycles(target, fixtures)
    operations = {
        BARE_INSERT: (target.bare, bare_insert),
        UPLOAD: (target.chainmail, cycles["upload"]),
        "POST /api/users": (target.chainmail, [[at("/api/users", new_user)]]),
        "flag update, seen toggled": (target.chainmail, cycles["flag"]),
        "POST /idx/wallets/:w/points/add": (target.chainmail, cycles["points"]),
    }
    results: dict[str, list[Result]] = {name: [] for name in operations}
    for clients in client_counts:  # interleaved, so that every operation meets the machine in the same state
        for name, (port, requests) in operations.items():
            results[name].append(drive(port, clients, requests, seconds, run=f"r{clients}"))
    largest = max(client_counts)
    hot = drive(target.chainmail, largest, cycles["hot"], seconds, "hot", capture=True)
    anchors = {r.clients: r.rate for r in results[BARE_INSERT]}
    rows = [(name, r, [anchors[r.clients]]) for name, rs in results.items() for r in rs]
    rows.append((f"upload, {largest} clients in ONE INBOX", hot, [anchors[largest]]))
    print_table(
        f"writes ({target.store}); x bare: to the bare insert at as many clients", rows, ["x bare"], blocks=True
    )
    hot.checked = check_hot_inbox(target.api, fixtures.hot, hot.ids)
    return {**results, HOT: [hot]}


def reads(target: Target, fixtures: Fixtures, connections: int, seconds: float) -> dict[str, Result]:
    """Bare JSON and bare row by key beside a user, a message listing and the points leaderboard."""
    cycles = chainmail_cycles(target, fixtures)
    operations = {
        BARE_JSON: (target.bare, [[Req("GET", "/json")]]),
        "bare GET one row by key": (target.bare, [[Req("GET", "/row/1")]]),
        CHAINMAIL_READS[0]: (target.chainmail, cycles["user"]),
        CHAINMAIL_READS[1]: (target.chainmail, cycles["listing"]),
        CHAINMAIL_READS[2]: (target.chainmail, cycles["leaderboard"]),
    }
    results = {name: drive(port, connections, cycles, seconds, "read") for name, (port, cycles) in operations.items()}
    anchors = [results[BARE_JSON].rate, results["bare GET one row by key"].rate]
    rows = [(name, r, anchors) for name, r in results.items()]
    print_table(f"reads ({target.store}, {connections} connections)", rows, ["x json", "x row"])
    return results


def targets(written: dict[str, list[Result]], read: dict[str, Result]) -> None:
    """The targets of issue 12's "Done when", met or not, on this run."""

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    largest = max(written[UPLOAD], key=lambda r: r.clients)
    single = min(written[UPLOAD], key=lambda r: r.clients)
    bare = next(r.rate for r in written[BARE_INSERT] if r.clients == largest.clients)
    hot = written[HOT][0]
    print("\n  issue 12 targets on this run:")
    print(
        f"    uploads at {largest.clients} clients >= 0.25x the bare insert: {largest.rate / bare:.3f}x, "
        f"{verdict(largest.rate >= 0.25 * bare)}; p99 < 100 ms: {largest.p99:.0f} ms, {verdict(largest.p99 < 100)}"
    )
    growth = largest.rate / single.rate
    print(f"    uploads at {largest.clients} clients >= 3x at {single.clients}: {growth:.2f}x, {verdict(growth >= 3)}")
    bare_single = next(r.rate for r in written[BARE_INSERT] if r.clients == single.clients)
    print(f"      (the bare insert itself grows {bare / bare_single:.2f}x from {single.clients} to {largest.clients})")
    json_p99 = read[BARE_JSON].p99
    print(f"      (the bare JSON GET itself has a p99 of {json_p99:.0f} ms under the same read load)")
    print(f"    hot INBOX >= 152/s (twice 76/s): {hot.rate:.1f}/s, {verdict(hot.rate >= 152)}")
    for name in CHAINMAIL_READS:
        ratio = read[name].rate / read[BARE_JSON].rate
        print(
            f"    {name} >= 0.5x the bare JSON GET: {ratio:.3f}x, {verdict(ratio >= 0.5)}; "
            f"p99 < 20 ms: {read[name].p99:.0f} ms, {verdict(read[name].p99 < 20)}"
        )


def section(store: str, workers: int, seconds: float, client_counts: list[int], read_connections: int) -> bool:
    """Every figure for one store; False if an answer was not 2xx or the hot INBOX check failed."""
    conf = runpy.run_path(str(GUNICORN_CONF))
    shape = f"{conf['worker_class']}, {workers} workers x {conf['threads']} threads, keepalive {conf['keepalive']} s"
    print(f"\n=== {store}: chainmail serve and the bare Falcon app, gunicorn {shape}; {seconds:g} s per run ===")
    with servers(store, workers, conf["threads"]) as target:
        fixtures = prepare(target.api, max(client_counts))
        print(f"  setup: {len(fixtures.inboxes) + 2} users, {LISTING_SIZE} messages to list, {POINTS_WALLETS} wallets")
        written = writes(target, fixtures, client_counts, seconds)
        read = reads(target, fixtures, read_connections, seconds)
    targets(written, read)
    every = [*(r for rs in written.values() for r in rs), *read.values()]
    failed = sum(r.failed for r in every)
    print(f"  answers not 2xx: {failed}")
    return failed == 0 and all(r.checked for r in every)


@dataclass
class Nodes:
    ports: list[int]
    url: str


@contextmanager
def chainmail_nodes(count: int, workers: int) -> Iterator[Nodes]:
    """`count` `chainmail serve` nodes (each with `workers` workers and a var directory of its own) on one
    throwaway PostgreSQL database, migrated once, and beside them `chainmail project` and `chainmail deliver`
    (a deployment's whole set of processes on that database)."""
    with database("postgres", migrated=False) as url, tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, CHAINMAIL_DATABASE_URL=url, CHAINMAIL_API_ACCESS_TOKEN=TOKEN)
        env.update(CHAINMAIL_WORKERS=str(workers), CHAINMAIL_EMAIL_DOMAIN="example.com")
        migrate = [sys.executable, "-m", "chainmail.cli", "migrate"]
        subprocess.run(migrate, env={**env, "CHAINMAIL_VAR_DIR": folder}, check=True, capture_output=True)
        serve = [sys.executable, "-m", "chainmail.cli", "serve"]
        ports = [free_port() for _ in range(count)]
        with ExitStack() as stack:
            for i, port in enumerate(ports):
                own = Path(folder) / f"node{i}"
                own.mkdir()
                node_env = {**env, "CHAINMAIL_VAR_DIR": str(own), "CHAINMAIL_PORT": str(port)}
                stack.enter_context(server(f"chainmail{i}", serve, node_env, port, "/api/health", Path(folder)))
            for command in ("project", "deliver"):
                log = stack.enter_context(open(Path(folder) / f"{command}.log", "wb"))
                worker = subprocess.Popen(
                    [sys.executable, "-m", "chainmail.cli", command],
                    env={**env, "CHAINMAIL_VAR_DIR": folder},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                stack.callback(worker.wait, 30)
                stack.callback(worker.terminate)
            yield Nodes(ports, url)


@contextmanager
def peak_connections(url: str) -> Iterator[list[int]]:
    """The most connections that the database at `url` had at once while the block ran (sampled every 0.1 s;
    the sampler's own is not counted): the list holds it once the block has ended."""
    name, peak, stop = url.rsplit("/", 1)[1], [0], threading.Event()

    def sample() -> None:
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            while not stop.wait(0.1):
                query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                peak[0] = max(peak[0], admin.execute(query, (name,)).fetchone()[0])  # type: ignore[index]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def nodes_section(workers: int, seconds: float, clients: int) -> bool:
    """One node against two on one PostgreSQL database: uploads (own INBOX and one hot INBOX, whose UIDs are
    checked through the API) and flag updates, the clients spread over the nodes."""
    print(
        f"\n=== postgres, more than one node: two `chainmail serve` ({workers} workers each) on one database; "
        f"{clients} clients on the first alone, then spread over both; {seconds:g} s per run ===\n"
        "  (on one machine the nodes share its cores: read these for what a second node costs in contention "
        "and that it loses nothing, not for the capacity of a second machine)"
    )
    with chainmail_nodes(2, workers) as nodes, peak_connections(nodes.url) as connections:
        ports = nodes.ports
        api = Api(ports[0])
        fixtures = prepare(api, clients)
        req = Target("postgres", ports[0], 0, api).chainmail_request
        uploads = [
            [req(f"/api/users/{u}/mailboxes/{m}/messages", SMALL_MESSAGE, kind=RFC822)] for u, m in fixtures.inboxes
        ]
        flags = [
            [
                req(f"/api/users/{u}/mailboxes/{m}/messages/{uid}", json.dumps({"seen": seen}), "PUT")
                for seen in (False, True)
            ]
            for (u, m), uid in zip(fixtures.inboxes, fixtures.flagged, strict=True)
        ]
        hot_user, hot_inbox = fixtures.hot
        hot = [[req(f"/api/users/{hot_user}/mailboxes/{hot_inbox}/messages", SMALL_MESSAGE, kind=RFC822)]]
        rows: list[tuple[str, Result, list[float]]] = []
        checked = True
        for name, cycles, capture in (
            ("upload, own INBOX", uploads, False),
            ("flag update, seen toggled", flags, False),
            ("upload, ONE hot INBOX", hot, True),
        ):
            alone = drive_nodes(ports[:1], clients, cycles, seconds, f"a{len(rows)}", capture)
            both = drive_nodes(ports, clients, cycles, seconds, f"b{len(rows)}", capture)
            rows += [(f"{name}, 1 node", alone, [alone.rate]), (f"{name}, 2 nodes", both, [alone.rate])]
            if capture:
                checked &= check_hot_inbox(api, fixtures.hot, alone.ids + both.ids)
    print_table("writes across nodes; x 1 node: to the same operation on the first node alone", rows, ["x 1 node"])
    print(
        f"  PostgreSQL connections at most, both nodes with `chainmail project` and `chainmail deliver`: "
        f"{connections[0]} (a stock server allows 100, 3 of them kept for superusers)"
    )
    failed = sum(r.failed for _, r, _ in rows)
    print(f"  answers not 2xx: {failed}")
    return failed == 0 and checked


def mixed_section(workers: int, seconds: float, clients: int) -> bool:
    """The issue's mixed load on PostgreSQL: each client in turn creates a user, uploads into its INBOX, reads
    its user, flags a message, uploads again, reads its user again and lists a mailbox of 100 messages."""
    conf = runpy.run_path(str(GUNICORN_CONF))
    print(f"\n=== postgres, mixed load: {clients} clients, {workers} workers, {seconds:g} s ===")
    with servers("postgres", workers, conf["threads"]) as target:
        fixtures = prepare(target.api, clients)
        cycles = chainmail_cycles(target, fixtures)
        new_user = json.dumps({"username": f"m{UNIQUE}", "password": "benchmark-password"})
        create = target.chainmail_request("/api/users", new_user)
        mixed = [
            [create, upload, user, flag, upload, user, cycles["listing"][0][0]]
            for [upload], [user], [flag, _] in zip(cycles["upload"], cycles["user"], cycles["flag"], strict=True)
        ]
        result = drive(target.chainmail, clients, mixed, seconds, "mixed")
    print("  (a cycle: POST /api/users, 2 uploads, 2 GET /api/users/:id, 1 flag update, 1 listing)")
    print_table("mixed load (postgres), every request of the cycle together", [("mixed", result, [])], [])
    return result.failed == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers on PostgreSQL (SQLite: 2)")
    parser.add_argument("--clients", default="1,4,16", help="client counts of the write runs")
    parser.add_argument("--read-connections", type=int, default=64)
    parser.add_argument("--sqlite", action="store_true", help="also run everything on the embedded SQLite default")
    parser.add_argument("--nodes", action="store_true", help="also one node against two on one PostgreSQL database")
    parser.add_argument("--mixed", type=float, default=0, metavar="SECONDS", help="also a mixed load this long")
    args = parser.parse_args()
    client_counts = [int(n) for n in args.clients.split(",")]
    revision = subprocess.run(
        ["git", "-C", str(GUNICORN_CONF.parents[1]), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    print(f"code under test: {GUNICORN_CONF.parents[1]} at {revision or 'unknown revision'}")
    print(f"load generator: {wrk_version()}, one connection per thread, Lua script")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    good = section("postgres", args.workers, args.seconds, client_counts, args.read_connections)
    if args.sqlite:
        good &= section("sqlite", 2, args.seconds, client_counts, args.read_connections)
    if args.nodes:
        good &= nodes_section(args.workers, args.seconds, max(client_counts))
    if args.mixed:
        good &= mixed_section(args.workers, args.mixed, max(client_counts))
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
