"""`chainmail index` against Ponder 1.0.0 and 0.16.4, end to end, on a dense and a sparse anvil chain.

Run: (cd benchmarks/ponder && npm ci) && (cd benchmarks/ponder-1.0 && npm ci) then
     .venv/bin/python -m benchmarks.indexer_ponder [--chains dense,sparse] [--ponders 1.0,0.16]

The chains (MailerEvents.sendMix, one transaction per block):
- dense: 100,000 events (80,000 MailSent, 10,000 PreparedMailSent, 10,000 DelegationSet over 2,000
  delegators), 50 logs per transaction, blocks 1 to 2,001;
- sparse: 5,000 events in the same proportions, one per transaction, one transaction every 100 blocks
  (500,000 blocks; `--sparse-gap 10` for 50,000). anvil 1.7.1 spends time on each mined block in
  proportion to the blocks before it, by `anvil_mine` and `evm_mine` alike and with `--prune-history`,
  `--max-persisted-states 0` or `--transaction-block-keeper` (measured here: blocks 1..3,000 in 11 s,
  3,001..6,000 in 26 s; 10,000 in 117 s), so 500,000 blocks would take days on 2 cores.
Each indexer runs as an operator runs it, from the command line into its own fresh PostgreSQL database
on the same server, and is timed from process start until every row is in (counted every 0.1 s):
chainmail with a TOML file giving only the RPC URL, the contract, `confirmations = 0` and
`max_rps = 1000` (every other setting its default); Ponder with its defaults (`ponder start`), handlers
writing mails, prepared mails and an upsert per delegator, and done when those rows are in and `/ready`
answers 200. Then, on the dense chain, each server answers the same three GraphQL queries over its own
database (vacuumed and analysed first, as autovacuum leaves it soon after a bulk load) from 16 clients.
The machine is shared: run it more than once and read the figures as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests

from benchmarks._stores import PG_ADMIN, _migrate
from tests.chain.anvil import Anvil, dev_keys, free_port

HERE = Path(__file__).parent
PONDER_APPS = {"1.0": HERE / "ponder-1.0", "0.16": HERE / "ponder"}
CHAINMAIL = Path(sys.executable).with_name("chainmail")
ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class Chain:
    name: str
    mailer: str
    mails: int
    prepared: int
    delegations: int
    delegators: int  # distinct delegators (Ponder's delegations table holds one row each)
    head: int

    @property
    def events(self) -> int:
        return self.mails + self.prepared + self.delegations


@dataclass(frozen=True)
class Load:
    """One GraphQL query sent by `clients` clients at once for a while."""

    queries: int
    seconds: float
    p50: float  # milliseconds
    p99: float

    @property
    def rate(self) -> float:
        return self.queries / self.seconds


@dataclass(frozen=True)
class Run:
    first_row: float  # seconds from process start to the first row
    done: float  # ... to every row
    graphql: dict[str, Load] | None = None

    def rate(self, events: int) -> float:
        return events / self.done


class Sender:
    """Signs and sends transactions without waiting for receipts, each mined into a block of its own
    (automine is off while it sends: sent faster than mined, anvil would put several in one block)."""

    def __init__(self, anvil: Anvil, sender: int = 0) -> None:
        self.anvil, self.key = anvil, anvil.keys[sender]
        self.nonce = int(anvil.rpc("eth_getTransactionCount", self.key.address, "pending"), 16)
        anvil.rpc("evm_setAutomine", False)

    def send(self, to: str, data: str) -> None:
        tx = {
            "to": to,
            "data": data,
            "nonce": self.nonce,
            "gas": 5_000_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 1,
            "chainId": self.anvil.chain_id,
            "value": 0,
            "type": 2,
        }
        signed = self.key.sign_transaction(tx)
        self.anvil.rpc("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
        self.anvil.rpc("evm_mine")
        self.nonce += 1

    def wait(self) -> None:
        """Until every transaction sent is mined; then anvil mines each transaction at once again."""
        while int(self.anvil.rpc("eth_getTransactionCount", self.key.address, "latest"), 16) < self.nonce:
            time.sleep(0.05)
        self.anvil.rpc("evm_setAutomine", True)


def build(anvil: Anvil, kind: str, gap: int = 100) -> Chain:
    start = time.perf_counter()
    deployed = anvil.deploy("MailerEvents")
    functions, accounts = deployed.contract.functions, anvil.accounts
    sender = Sender(anvil)
    address = deployed.contract.address
    mails = prepared = delegations = 0
    if kind == "dense":
        for i in range(2000):
            data = functions.sendMix(
                accounts[1 + i % 5], f"mail {i}", f"prepared-{i}", 40, 5, 5, 1 + (5 * i) % 2000
            )._encode_transaction_data()
            sender.send(address, data)
        mails, prepared, delegations = 80_000, 10_000, 10_000
        delegators = len({1 + (5 * i) % 2000 + k for i in range(2000) for k in range(5)})
    else:
        for i in range(5000):
            share = (1, 0, 0) if i % 10 < 8 else (0, 1, 0) if i % 10 == 8 else (0, 0, 1)
            data = functions.sendMix(
                accounts[1 + i % 5], f"mail {i}", f"prepared-{i}", *share, 1 + i % 500
            )._encode_transaction_data()
            sender.send(address, data)
            anvil.mine(gap - 1)
            mails, prepared, delegations = mails + share[0], prepared + share[1], delegations + share[2]
        delegators = len({1 + i % 500 for i in range(5000) if i % 10 == 9})
    sender.wait()
    head = anvil.head()
    print(
        f"{kind} chain: {mails + prepared + delegations:,} events ({mails:,} MailSent, {prepared:,} "
        f"PreparedMailSent, {delegations:,} DelegationSet) in blocks 1..{head:,}, made in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return Chain(kind, deployed.address, mails, prepared, delegations, delegators, head)


def fresh_pg() -> str:
    name = f"chainmail_ponder_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_pg(url: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _count(url: str, query: str) -> tuple[int, ...]:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(query).fetchone()
    except psycopg.Error:  # tables not made yet
        return (0, 0, 0)
    return tuple(int(x or 0) for x in row) if row else (0, 0, 0)


def _time(
    process: subprocess.Popen[bytes], start: float, counts: Callable[[], tuple[int, ...]], want: tuple[int, ...]
) -> Run:
    first = None
    deadline = start + 1800
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the indexer exited with {process.returncode}")
        have = counts()
        if first is None and any(have):
            first = time.perf_counter() - start
        if have == want:
            return Run(first or 0.0, time.perf_counter() - start)
        time.sleep(0.1)
    raise TimeoutError(f"not every row after 30 minutes: {counts()} of {want}")


def run_chainmail(
    anvil: Anvil, chain: Chain, queries: Callable[[str], dict[str, Load]] | None, keep: bool = False
) -> Run:
    """Index with `chainmail index`; with `queries`, then serve the indexed database with `chainmail serve`
    and measure the GraphQL queries against it. With `keep`, the database is left for `--graphql-only`."""
    url = fresh_pg()
    try:
        _migrate(url)  # an operator runs `chainmail migrate` once, before indexing
        with tempfile.TemporaryDirectory() as folder:
            config = _chainmail_config(Path(folder), url, free_port(), anvil.url, chain.mailer)
            log = Path(f"/tmp/chainmail-index-{chain.name}.log")
            with log.open("wb") as out:
                start = time.perf_counter()
                process = subprocess.Popen(
                    [str(CHAINMAIL), "--config", str(config), "index"], stdout=out, stderr=subprocess.STDOUT
                )
                try:
                    query = (
                        "SELECT (SELECT count(*) FROM evm_mails WHERE kind = 'direct'),"
                        " (SELECT count(*) FROM evm_mails WHERE kind = 'prepared'),"
                        " (SELECT count(*) FROM evm_delegation_history)"
                    )
                    want = (chain.mails, chain.prepared, chain.delegations)
                    run = _time(process, start, lambda: _count(url, query), want)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
            if queries is None:
                return run
            vacuum(url)
            if keep:
                print(f"kept: --graphql-only chainmail={url}", flush=True)
            return Run(run.first_row, run.done, serve_chainmail(url, queries, chain.name))
    finally:
        if not keep:
            drop_pg(url)


def _chainmail_config(folder: Path, url: str, port: int, rpc_url: str, mailer: str) -> Path:
    config = folder / "chainmail.toml"
    config.write_text(
        f'database_url = "{url}"\nvar_dir = "{folder}"\nport = {port}\n\n[chains.31337]\n'
        f'rpc_url = "{rpc_url}"\nmailer = "{mailer}"\nmailer_start_block = 0\n'
        "confirmations = 0\nmax_rps = 1000\n"
    )
    return config


def serve_chainmail(url: str, queries: Callable[[str], dict[str, Load]], name: str = "dense") -> dict[str, Load]:
    """`chainmail serve` over an indexed database, and the GraphQL queries against it."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        config = _chainmail_config(Path(folder), url, port, "http://127.0.0.1:1", ZERO)
        env = {**os.environ, "CHAINMAIL_CONFIG": str(config)}
        with Path(f"/tmp/chainmail-serve-{name}.log").open("wb") as out:
            server = subprocess.Popen([str(CHAINMAIL), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                _wait_http(f"http://127.0.0.1:{port}/idx/graphql", server)
                return queries(f"http://127.0.0.1:{port}/idx/graphql")
            finally:
                server.terminate()
                server.wait(timeout=60)


def vacuum(url: str) -> None:
    """Both servers answer queries over a database in its steady state: vacuumed and analysed, as autovacuum
    leaves it a while after a bulk load."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def _wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            requests.post(url, json={"query": "{ __typename }"}, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


def run_ponder(
    version: str,
    anvil: Anvil,
    chain: Chain,
    queries: Callable[[str], dict[str, Load]] | None,
    keep: bool = False,
) -> Run:
    app = PONDER_APPS[version]
    url = fresh_pg()
    port = free_port()
    env = _ponder_env(url, anvil.url, chain.mailer, anvil.head())
    log = Path(f"/tmp/ponder-{version}-{chain.name}.log")
    try:
        with log.open("wb") as out:
            start = time.perf_counter()
            process = subprocess.Popen(
                [str(app / "node_modules/.bin/ponder"), "start", "--schema", "bench", "--port", str(port)],
                cwd=app,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                query = (
                    "SELECT (SELECT count(*) FROM bench.mails), (SELECT count(*) FROM bench.prepared_mails),"
                    " (SELECT count(*) FROM bench.delegations)"
                )
                delegators = chain.delegators

                def counts() -> tuple[int, ...]:
                    have = _count(url, query)
                    if have != (chain.mails, chain.prepared, delegators):
                        return have
                    try:  # every row is in once the backfill is over; delegations are upserts: ask Ponder
                        ready = requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
                    except requests.RequestException:
                        ready = False
                    return have if ready else (*have[:2], -1)

                run = _time(process, start, counts, (chain.mails, chain.prepared, delegators))
                if queries is None:
                    return run
                vacuum(url)
                if keep:
                    print(f"kept: --graphql-only {version}={url} --mailer {chain.mailer}", flush=True)
                return Run(run.first_row, run.done, queries(f"http://127.0.0.1:{port}/graphql"))
            finally:
                process.terminate()
                process.wait(timeout=60)
    finally:
        if not keep:
            drop_pg(url)


def _ponder_env(url: str, rpc_url: str, mailer: str, end_block: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "PONDER_RPC_URL": rpc_url,
        "MAILER_ADDRESS": mailer,
        "END_BLOCK": str(end_block),
        "PONDER_TELEMETRY_DISABLED": "true",
    }


def serve_ponder(version: str, url: str, mailer: str, queries: Callable[[str], dict[str, Load]]) -> dict[str, Load]:
    """`ponder serve` (the GraphQL server alone, no indexing) over a database Ponder indexed before."""
    app, port = PONDER_APPS[version], free_port()
    with Path(f"/tmp/ponder-{version}-serve.log").open("wb") as out:
        server = subprocess.Popen(
            [str(app / "node_modules/.bin/ponder"), "serve", "--schema", "bench", "--port", str(port)],
            cwd=app,
            env=_ponder_env(url, "http://127.0.0.1:1", mailer, 0),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/graphql", server)
            return queries(f"http://127.0.0.1:{port}/graphql")
        finally:
            server.terminate()
            server.wait(timeout=60)


# The three queries, in each server's field names: chainmail's Ponder-compatible `mails` (from/to) and the
# Ponder app's `mails` table (sender/recipient).
FIELDS = {
    "chainmail": "id from to subject blockNumber timestamp transactionHash",
    "ponder": "id sender recipient subject blockNumber timestamp transactionHash",
}
WALLET_FIELD = {"chainmail": "to", "ponder": "recipient"}


def graphql_load(url: str, flavour: str, wallet: str, clients: int, seconds: float) -> dict[str, Load]:
    """Latest 50 mails by blockNumber desc; page 20 of that listing by `after` cursor; 50 mails to one
    wallet with totalCount: each sent by `clients` clients at once for `seconds`."""
    fields = FIELDS[flavour]

    def listing(after: str | None, selection: str) -> str:
        cursor = f", after: {json.dumps(after)}" if after else ""
        order = 'orderBy: "blockNumber", orderDirection: "desc", limit: 50'
        return f"{{ mails({order}{cursor}) {{ items {{ {selection} }} pageInfo {{ endCursor hasNextPage }} }} }}"

    session = requests.Session()
    cursor = None
    for _ in range(19):  # the cursor of page 19's end: page 20 starts after it
        answer = session.post(url, json={"query": listing(cursor, "id")}, timeout=60).json()
        cursor = answer["data"]["mails"]["pageInfo"]["endCursor"]
    latest, page20 = listing(None, fields), listing(cursor, fields)
    where = f'where: {{ {WALLET_FIELD[flavour]}: "{wallet}" }}'
    to_wallet = f"{{ mails({where}, limit: 50) {{ items {{ {fields} }} totalCount }} }}"
    out = {}
    for name, query in (
        ("latest 50 by blockNumber desc", latest),
        ("page 20 by after cursor", page20),
        ("50 to one wallet + totalCount", to_wallet),
    ):
        check = session.post(url, json={"query": query}, timeout=60).json()
        assert "errors" not in check and len(check["data"]["mails"]["items"]) == 50, str(check)[:500]
        out[name] = _load(url, query, clients, seconds)
    return out


def _load(url: str, query: str, clients: int, seconds: float) -> Load:
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client() -> None:
        session, mine = requests.Session(), []
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            reply = session.post(url, json={"query": query}, timeout=60)
            reply.raise_for_status()
            mine.append((time.perf_counter() - sent) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return Load(len(latencies), took, pick(0.5), pick(0.99))


def print_graphql(kind: str, runs: dict[str, dict[str, Load]], clients: int) -> None:
    for name, loads in runs.items():
        for query, load in loads.items():
            line = (
                f"{kind:6} {name:12} GraphQL {query:32} {load.rate:7,.0f} queries/s at {clients} "
                f"clients, p50 {load.p50:6.1f} ms, p99 {load.p99:6.1f} ms"
            )
            theirs = runs.get("chainmail")
            if name != "chainmail" and theirs:
                line += f"  (chainmail {theirs[query].rate / load.rate:.2f}x)"
            print(line, flush=True)


def graphql_only(targets: str, mailer: str, clients: int, seconds: float) -> None:
    """The GraphQL part alone, over databases indexed by an earlier `--keep` run: `chainmail=URL,1.0=URL`."""
    wallet = dev_keys(2)[1].address.lower()  # anvil.accounts[1], the wallet the dense chain's mails go to
    runs: dict[str, dict[str, Load]] = {}
    for target in targets.split(","):
        name, _, url = target.partition("=")
        if name == "chainmail":
            _migrate(url)  # as an operator upgrading: `chainmail migrate` before `chainmail serve`
            vacuum(url)
            runs[name] = serve_chainmail(url, lambda u: graphql_load(u, "chainmail", wallet, clients, seconds))
        else:
            runs[f"Ponder {name}"] = serve_ponder(
                name, url, mailer, lambda u: graphql_load(u, "ponder", wallet, clients, seconds)
            )
    print_graphql("dense", runs, clients)
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", default="dense,sparse")
    parser.add_argument("--ponders", default="1.0,0.16", help="Ponder versions to run (empty: none)")
    parser.add_argument("--clients", type=int, default=16, help="GraphQL clients at once (dense chain)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per GraphQL query (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the dense chain's indexed databases")
    parser.add_argument(
        "--sparse-gap",
        type=int,
        default=100,
        help="blocks from one transaction to the next on the sparse chain (anvil mines each block in a time "
        "that grows with the chain: 500,000 blocks take hours on 2 cores, 50,000 some minutes)",
    )
    parser.add_argument(
        "--graphql-only",
        metavar="chainmail=URL,1.0=URL",
        help="only the GraphQL part, over databases a `--keep` run indexed (it prints their URLs)",
    )
    parser.add_argument("--mailer", default=ZERO, help="with --graphql-only: the Mailer address `--keep` printed")
    args = parser.parse_args()
    if args.graphql_only:
        graphql_only(args.graphql_only, args.mailer, args.clients, args.seconds)
        return
    ponders = [v for v in args.ponders.split(",") if v]
    for version in ponders:
        if not (PONDER_APPS[version] / "node_modules/.bin/ponder").exists():
            raise SystemExit(f"install the Ponder app first: (cd {PONDER_APPS[version]} && npm ci)")
    results: list[str] = []
    for kind in args.chains.split(","):
        anvil = Anvil(31337, "--gas-limit", "300000000")
        try:
            chain = build(anvil, kind, args.sparse_gap)
            anvil.mine(100)  # Ponder backfills up to its finality depth below the head: give it the whole chain
            wallet = anvil.accounts[1].lower()

            def queries(
                flavour: str, kind: str = kind, wallet: str = wallet
            ) -> Callable[[str], dict[str, Load]] | None:
                if kind != "dense" or not args.seconds:
                    return None
                return lambda url: graphql_load(url, flavour, wallet, args.clients, args.seconds)

            keep = args.keep and kind == "dense"
            runs = {"chainmail": run_chainmail(anvil, chain, queries("chainmail"), keep)}
            for version in ponders:
                runs[f"Ponder {version}"] = run_ponder(version, anvil, chain, queries("ponder"), keep)
        finally:
            anvil.stop()
        for name, run in runs.items():
            line = (
                f"{kind:6} {name:12} first row {run.first_row:5.1f} s, every row {run.done:6.1f} s = "
                f"{run.rate(chain.events):>7,.0f} events/s"
            )
            for version in ponders:
                other = runs[f"Ponder {version}"]
                if name == "chainmail":
                    line += f"  {other.done / run.done:.2f}x Ponder {version}"
            print(line, flush=True)
            results.append(line)
        print_graphql(kind, {name: run.graphql for name, run in runs.items() if run.graphql}, args.clients)
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
