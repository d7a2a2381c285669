"""Ingestion mechanics: ABI topic hashes, the committed contract artifact, chains from settings, adaptive
eth_getLogs ranges behind a provider that refuses big answers, one writer per chain, and pages read by
decoding processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_abi import decode, encode
from eth_utils import keccak
from eventsourcing.persistence import IntegrityError
from hypothesis import given, settings
from hypothesis import strategies as st

from chainmail.config import ChainSettings, Settings
from chainmail.domain.chain.abi import (
    ALL_EVENTS,
    LEGACY_MAILER_EVENTS,
    MAILER_EVENTS,
    THREEDNS_EVENTS,
    _decode_simple,
)
from chainmail.domain.chain.chains import ChainSpec, chain_specs, redact_url
from chainmail.indexer import ingest
from chainmail.indexer.lock import ChainLock
from chainmail.indexer.pages import DecodingPool, Page
from chainmail.indexer.rpc import JsonRpc, RpcUnavailable
from chainmail.projections.chain_mails import mails_of
from chainmail.system import System
from tests.chain.anvil import ARTIFACTS, ROOT, Anvil, free_port
from tests.chain.databases import fresh_database
from tests.chain.harness import index, indexer, read_models, spec_for

# topic0 of every event as listed in the spec (indexer.md §5.2, §5.3): recomputed here with keccak256.
SPEC_TOPICS = {
    "MailSent(address,address,address,string,string,bool,bool,bool)": (
        "0x7d55ffbbee5c0f34fd8e42959561215e34bfbcc5cc55af514698c2a5b7901f64"
    ),
    "PreparedMailSent(address,address,address,string,bool,bool,bool)": (
        "0x4cbe5e8dcf57ec36001e16b99921f77ffcc75871af1de9710fb0ca8e35baa8b7"
    ),
    "MailSentToEmail(address,address,string,string,string,bool)": (
        "0x22467e0bf49eee57c9e60e4f9272a123cf4793bba4ce5ce7815e37e71c2858b4"
    ),
    "PreparedMailSentToEmail(address,address,string,string,bool)": (
        "0xa85962ce5235c0945c232313bd0058ce3584d4349cd4a6e79e8c517654875d34"
    ),
    "WebhookMailSent(address,address,address,string,bool,bool,bool)": (
        "0xc925841064c7c2bb5778eed73395dfd21e5ba8b598a6887190856fb7421d6e08"
    ),
    "DelegationSet(address,address)": "0x39e3ace752997a751bda5ecf126da84d0d23d5e61f3f56f26a6b22990d7beed8",
    "DelegationFeeUpdated(uint256,uint256)": "0x83b05743f1284b2faed08b3f927951e6663e5277e09a40c939f0dfe5075af778",
    "FeeUpdated(uint256,uint256)": "0x528d9479e9f9889a87a3c30c7f7ba537e5e59c4c85a37733b16e57c62df61302",
    "SharesRecorded(address,uint256,uint256)": "0xad83ccf4aebaf9db0cc5658b24e378a4a865a51b863e0289e3ee0e4947d97b1c",
    "RecipientClaimed(address,uint256)": "0x6673747791df7fe01578fcaebe4082d6d7680f052dbdd7d2cf345f88121be421",
    "OwnerClaimed(uint256)": "0x81521279371b94892737e5e06851c322303c72e5493db1453314ea08f55cb937",
    "ExpiredSharesClaimed(address,uint256)": "0xb4572b7f0782a4b7672a2341d00e4f1a0af99d81a3f8e959f25ff679eb314481",
    "ContractPaused()": "0xab35696f06e428ebc5ceba8cd17f8fed287baf43440206d1943af1ee53e6d267",
    "ContractUnpaused()": "0x0e5e3b3fb504c22cf5c42fa07d521225937514c654007e1f12646f89768d6f94",
    "EmergencyUnpaused()": "0x15de7ad89d29fd1c6d2e6b1e878453569b4080edf34e0105faaa3bd52f018530",
    "FeePauseToggled(bool)": "0x0bb6987e633a7af841f8c4d74c699a4aa006b854376001dd6c0412f2ec13f5c1",
    "FundsDistributed(address,uint256)": "0x26536799ace2c3dbe12e638ec3ade6b4173dcf1289be0a58d51a5003015649bd",
    "CustomFeePercentageSet(address,uint256)": "0xb6ddac613582447a8fcbbe869621560344bdbe26d6fea183b1e155cd223d864d",
    "PermissionGranted(address,address)": "0x0ceda602a8e00ef76afe24614343eb6c034877c816b6184d641d2d8b713a0fc6",
    "PermissionRevoked(address,address)": "0x5f708ef9fc37d19d88246c264788c8cdf640c9ff500bd168e941ea1421c4f6c4",
    "MailSent(address,address,string,string,bool,bool,bool)": (
        "0xda076e9b7224dce0ba5ac55d2b00f78c3f1c15703b3ef0889e9c29b132101d05"
    ),
    "PreparedMailSent(address,address,string,bool,bool,bool)": (
        "0x180721b7b6f223ae4b7dba66723b1b9a15679d0f109ec546a60d4bdd8db442c9"
    ),
    "MailSentToEmail(address,string,string,string,bool)": (
        "0x1c5adab95a0a545c50248a1182e6e490ffd266608eff7f94596e694a5d2c6a13"
    ),
    "PreparedMailSentToEmail(address,string,string,bool)": (
        "0xa7f47a20cd22aaeae14c5b3df8878382b69b3c388dd7eeaa8b88dabc0de00b64"
    ),
    "WebhookMailSent(address,address,string,bool,bool,bool)": (
        "0x468ba7f8a0a9267778048805b10b0cce1c35cbb1bb04d174cb9e462ed6027045"
    ),
    "MailSent(address,address,string,string,bool,bool)": (
        "0x4576724219bca1c695ff280c4eba3f012c99252acd6c7d90c0407f63f8e6ad26"
    ),
    "PreparedMailSent(address,address,string,bool,bool)": (
        "0x6c92a5c8a1b6c49076a075d1a499458f543fd2588ea971574373865f817ce83d"
    ),
    "MailSentToEmail(address,string,string,string)": (
        "0xe137336c26280396075fb19ebe313eb4c539c2d845386ad035d8dee029bba313"
    ),
    "PreparedMailSentToEmail(address,string,string)": (
        "0xfadda1f12158473f0f6a95450c4108a36fc8aa62f3dee6a9de94c8c599470443"
    ),
    "WebhookMailSent(address,address,string,bool,bool)": (
        "0x6a00347d56e88979c493ca2baa527a6cd1009b34431c4ef1021a5c0edd785625"
    ),
    "RegistrationCreated(bytes32,bytes32,bytes,address,uint32,uint64)": (
        "0xac19932838a19af39acc75fd6355e463271401ff78f74238d2f28fb264298956"
    ),
    "RegistrationExtended(bytes32,uint64,uint64)": "0xb1cba991ee33b3ec72ce07bed0213bc60e033e33ea1f27a24211c3f14e853bcd",
}


def test_every_abi_entry_has_the_topic_hash_the_spec_lists() -> None:
    assert len(MAILER_EVENTS) == 20 and len(LEGACY_MAILER_EVENTS) == 10 and len(THREEDNS_EVENTS) == 4
    computed = {e.canonical: e.topic0 for e in ALL_EVENTS}
    for signature, topic in SPEC_TOPICS.items():
        assert "0x" + keccak(text=signature).hex() == topic
        assert computed[signature] == topic


def test_the_test_contract_artifact_is_what_solcjs_compiles_from_the_source(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules/solc").exists():
        pytest.skip("node and the npm packages (npm ci) are needed to recompile")
    out = tmp_path / "artifacts.json"
    subprocess.run([node, str(ROOT / "tests/chain/compile.mjs"), str(out)], check=True, timeout=120)
    assert json.loads(out.read_text()) == json.loads(ARTIFACTS.read_text())


def test_testnets_are_indexed_only_when_enabled_and_rpc_keys_are_never_shown() -> None:
    chains = {
        1: ChainSettings(rpc_url="https://eth-mainnet.example.com/v2/abcdef0123456789abcdef"),
        11155111: ChainSettings(rpc_url="https://sepolia.example.com"),
        10: ChainSettings(rpc_url="https://user:secret@optimism.example.com/?apikey=0123456789abcdef"),
        8453: ChainSettings(rpc_url=None),
        137: ChainSettings(rpc_url="https://polygon.example.com", enabled=False),
    }
    assert [s.chain_id for s in chain_specs(chains, enable_testnets=False)] == [1, 10]
    specs = {s.chain_id: s for s in chain_specs(chains, enable_testnets=True)}
    assert sorted(specs) == [1, 10, 11155111]
    assert specs[10].start_block == 110393959  # 3DNS starts before the Mailer on Optimism
    assert {d.kind for d in specs[10].deployments} == {"mailer", "threedns"}
    assert [d.address for d in specs[11155111].deployments] == [
        "0x8de9c081a31cbb14a5974b6b4a04aa8502a796f7",  # the older Mailer, from block 9531686
        "0x94c60389d5a69a3f83871990a6b140abb47b4f10",
    ]
    assert specs[11155111].start_block == 9531686
    assert specs[1].public_rpc_url == "https://eth-mainnet.example.com/v2/***"
    assert redact_url(chains[10].rpc_url) == "https://optimism.example.com/"


class RefusingProvider:
    """A stand-in for a hosted RPC provider in front of anvil: eth_getLogs answers with more than
    `max_logs` logs are refused the way Infura does (-32005 "query returned more than N results")."""

    def __init__(self, upstream: str, max_logs: int, *, batches: bool = True) -> None:
        self.upstream, self.max_logs, self.refused, self.get_logs = upstream, max_logs, 0, 0
        self.batches, self.batches_refused = batches, 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if isinstance(body, list) and not provider.batches:  # as some hosted nodes answer a batch
                    provider.batches_refused += 1
                    error = {"code": -32600, "message": "batch requests are not supported"}
                    reply: Any = {"jsonrpc": "2.0", "id": None, "error": error}
                    body = []
                else:
                    reply = requests.post(provider.upstream, json=body, timeout=30).json()
                for call, answer in zip(
                    body if isinstance(body, list) else [body],
                    reply if isinstance(reply, list) else [reply] if body else [],
                    strict=True,
                ):
                    if call["method"] == "eth_getLogs":
                        provider.get_logs += 1
                        if len(answer.get("result") or []) > provider.max_logs:
                            provider.refused += 1
                            answer.pop("result")
                            answer["error"] = {
                                "code": -32005,
                                "message": f"query returned more than {provider.max_logs} results",
                            }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    node = Anvil()
    yield node
    node.stop()


def test_ranges_shrink_when_the_provider_refuses_and_every_log_still_arrives(system: System, anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    for i in range(12):
        anvil.send(mailer.contract.functions.sendMany(anvil.accounts[1], f"batch {i}", 4), 0)
    provider = RefusingProvider(anvil.url, max_logs=10)
    try:
        spec = spec_for(anvil, [mailer.address], confirmations=0, max_block_range=1000)
        worker = indexer(system, spec)
        worker.rpc = JsonRpc(provider.url, max_rps=1000)
        worker.sync()
    finally:
        provider.close()
    with system.engine.connect() as conn:
        mails = mails_of(conn, 31337)
    assert len(mails) == 48
    assert [m["subject"] for m in mails] == [f"batch {i}" for i in range(12) for _ in range(4)]
    assert provider.refused >= 1
    assert worker.range <= 2  # at most two blocks of four logs fit under ten


def test_a_node_that_refuses_batch_requests_is_asked_one_call_at_a_time_and_every_log_arrives(
    system: System, anvil: Anvil
) -> None:
    mailer = anvil.deploy("MailerEvents")
    f = mailer.contract.functions
    for i in range(3):
        anvil.send(f.sendPrepared(anvil.accounts[2], f"prepared-{i}", anvil.accounts[0], False, False), 0)
        anvil.send(f.sendMany(anvil.accounts[1], f"batch {i}", 2), 0)
    provider = RefusingProvider(anvil.url, max_logs=1000, batches=False)
    try:
        spec = spec_for(anvil, [mailer.address], confirmations=0)
        worker = indexer(system, spec)
        worker.rpc = JsonRpc(provider.url, max_rps=1000)
        worker.sync()
    finally:
        provider.close()
    with system.engine.connect() as conn:
        mails = mails_of(conn, 31337)
    assert [m["mail_id"] for m in mails if m["kind"] == "prepared"] == [f"prepared-{i}" for i in range(3)]
    assert len(mails) == 9
    assert all(m["block_time"] > 0 for m in mails)
    assert provider.batches_refused == 1  # asked once, then one call at a time


def test_one_writer_per_chain_the_lock_excludes_a_second_worker_until_released(database_url: str) -> None:
    first, second = ChainLock(database_url, 31337), ChainLock(database_url, 31337)
    other_chain = ChainLock(database_url, 10)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert other_chain.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        for lock in (first, second, other_chain):
            lock.release()


def test_two_unlocked_writers_of_one_chain_conflict_instead_of_both_writing(system: System, anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    spec = spec_for(anvil, [mailer.address], confirmations=0)
    a, b = indexer(system, spec), indexer(system, spec)
    a._cursor(), b._cursor()  # both read the same checkpoint
    anvil.send(mailer.contract.functions.delegateTo(anvil.accounts[2]), 1)
    a.step()
    with pytest.raises(IntegrityError):
        b.step()


simple_values = st.tuples(
    st.binary(min_size=20, max_size=20),
    st.text(max_size=200),
    st.booleans(),
    st.integers(min_value=0, max_value=2**256 - 1),
    st.binary(max_size=100),
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=0, max_value=2**64 - 1),
)


@settings(max_examples=200, deadline=None)
@given(values=simple_values)
def test_the_fast_log_decoder_agrees_with_eth_abi(values: tuple) -> None:
    types = ["address", "string", "bool", "uint256", "bytes", "bytes32", "uint64"]
    address, *rest = values
    data = encode(types, ["0x" + address.hex(), *rest])
    assert _decode_simple(types, data) == ["0x" + address.hex(), *decode(types, data)[1:]]


def test_with_the_finalized_tag_blocks_up_to_the_nodes_finalized_block_are_backfilled_unchecked(
    system: System, anvil: Anvil
) -> None:
    mailer = anvil.deploy("MailerEvents")
    for i in range(3):
        anvil.send(
            mailer.contract.functions.send(anvil.accounts[1], f"m{i}", "", anvil.accounts[0], False, False, True)
        )
    anvil.mine(100)
    spec = spec_for(anvil, [mailer.address])
    spec = ChainSpec(**{**spec.__dict__, "use_finalized_tag": True})
    worker = indexer(system, spec)
    worker.step()  # one step: the backfill of the final blocks
    finalized = int(anvil.rpc("eth_getBlockByNumber", "finalized", False)["number"], 16)
    assert worker.finalized == finalized < anvil.head()
    assert worker.cursor is not None and worker.cursor.block == finalized
    assert worker.cursor.recent == {finalized: worker.cursor.hash}  # no per-block headers below finality
    worker.sync()
    assert worker.cursor.block == anvil.head()
    assert len(worker.cursor.recent) == anvil.head() - finalized + 1  # every unfinalized header kept
    with system.engine.connect() as conn:
        assert len(mails_of(conn, 31337)) == 3


def test_a_backfill_read_by_decoding_processes_gives_the_read_models_of_one_read_in_threads(
    system: System,
    anvil: Anvil,
    database_url: str,
    sqlite_template: Path,
    pg_template: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailer = anvil.deploy("MailerEvents")
    f, a = mailer.contract.functions, anvil.accounts
    for i in range(4):
        anvil.send(f.sendMany(a[1], f"many {i}", 5), 0)
        anvil.send(f.sendPrepared(a[2], f"mail-id-{i}", a[0], True, False), 0)  # mailId recovered from the input
        anvil.send(f.sendThroughWebhook(a[3], f"hook-{i}", a[0], False, True), 1)
        anvil.send(f.delegateTo(a[2 + i % 3]), 1)
    anvil.send(f.rejectDelegation(a[1]), 4)
    pages_from_processes: list[int] = []

    class CountingPool(ingest.DecodingPool):
        def final_page(self, from_block: int, to_block: int) -> Future[Page]:
            pages_from_processes.append(from_block)
            return super().final_page(from_block, to_block)

    monkeypatch.setattr(ingest, "DecodingPool", CountingPool)
    spec = spec_for(anvil, [mailer.address], confirmations=0, max_block_range=2)
    worker = indexer(system, spec)
    worker.PROCESSES_AFTER_LOGS = 0  # a backfill this small would not start them
    assert worker.sync().block == anvil.head()
    assert len(pages_from_processes) > 3

    threads_only = ChainSpec(**{**spec.__dict__, "decode_processes": 0})
    with fresh_database(database_url, sqlite_template, pg_template, tmp_path) as url:
        inline = System(Settings(database_url=url, email_domain="example.com"))
        try:
            index(inline, threads_only)
            expected = read_models(inline.engine)
        finally:
            inline.close()
    assert len(pages_from_processes) > 3  # the second index read no page through the pool
    models = read_models(system.engine)
    assert models == expected
    mails = {m["kind"]: m for m in models["evm_mails"]}
    assert mails["prepared"]["mail_id"].startswith("mail-id-")
    assert mails["webhook"]["webhook_id"].startswith("hook-")
    assert len(models["evm_mails"]) == 4 * 5 + 4 + 4


def test_a_decoding_process_that_dies_fails_its_pages_instead_of_leaving_the_indexer_waiting(anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    anvil.send(mailer.contract.functions.sendMany(anvil.accounts[1], "x", 3), 0)
    pool = DecodingPool(spec_for(anvil, [mailer.address], confirmations=0), anvil.url, 1)
    try:
        page = pool.final_page(0, anvil.head()).result(timeout=60)
        assert [r.args["subject"] for r in page.records] == ["x", "x", "x"]
        pool._workers[0].process.kill()
        pool._workers[0].process.wait()
        pending = [pool.final_page(0, anvil.head()) for _ in range(3)]
        for future in pending:
            with pytest.raises(RuntimeError, match="decoding process"):
                future.result(timeout=60)
    finally:
        pool.close()


def test_a_node_error_in_a_decoding_process_reaches_the_indexer_as_itself(anvil: Anvil) -> None:
    mailer = anvil.deploy("MailerEvents")
    closed = f"http://127.0.0.1:{free_port()}"
    pool = DecodingPool(spec_for(anvil, [mailer.address], confirmations=0), closed, 1)
    try:
        with pytest.raises(RpcUnavailable, match="cannot reach"):
            pool.final_page(0, 1).result(timeout=60)
    finally:
        pool.close()


def test_decoding_processes_end_with_an_indexer_killed_by_sigkill() -> None:
    """No stray worker is left behind when the indexer cannot clean up: each ends at the end of its input."""
    script = (
        "import time\n"
        "from chainmail.domain.chain.chains import ChainSpec, Deployment\n"
        "from chainmail.indexer.pages import DecodingPool\n"
        "spec = ChainSpec(31337, 'anvil', False, (Deployment('mailer', '0x' + '11' * 20, 0),), "
        "'http://127.0.0.1:9', 10.0, 1.0, 0, False, 10, 2)\n"
        "pool = DecodingPool(spec, spec.rpc_url, 2)\n"
        "print(' '.join(str(w.process.pid) for w in pool._workers), flush=True)\n"
        "time.sleep(600)\n"
    )
    indexer = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert indexer.stdout is not None
    workers = [int(pid) for pid in indexer.stdout.readline().split()]
    assert len(workers) == 2 and all(_running(pid) for pid in workers)
    indexer.kill()
    indexer.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child of a killed parent may wait a while for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
