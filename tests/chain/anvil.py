"""A real anvil node (npm `@foundry-rs/anvil`) on a free loopback port, the test contracts deployed on it,
and transactions signed locally with anvil's well-known development keys."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from web3 import Web3
from web3.contract import Contract

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).with_name("artifacts.json")
MNEMONIC = "test test test test test test test test test test test junk"


def anvil_binary() -> Path:
    for candidate in (
        ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
        ROOT / "node_modules/.bin/anvil",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("anvil is not installed: run `npm ci` at the repository root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_keys(count: int = 10) -> list[Any]:
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


@dataclass
class Deployed:
    contract: Contract
    address: str


class Anvil:
    def __init__(self, chain_id: int = 31337, *extra: str) -> None:
        self.chain_id = chain_id
        for _attempt in range(5):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    str(anvil_binary()),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--chain-id",
                    str(chain_id),
                    "--silent",
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                break
            self.process.kill()
            self.process.wait()
        else:
            raise RuntimeError("anvil did not start")
        self.url = f"http://127.0.0.1:{self.port}"
        self.w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))
        self.keys = dev_keys()
        self.accounts = [k.address for k in self.keys]
        self._key_of = {k.address: k for k in self.keys}
        self.session = requests.Session()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                reply = requests.post(
                    f"http://127.0.0.1:{self.port}",
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                )
                if reply.ok:
                    return True
            except requests.RequestException:
                time.sleep(0.05)
        return False

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        body = reply.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    @cached_property
    def artifacts(self) -> dict[str, Any]:
        return json.loads(ARTIFACTS.read_text())["contracts"]

    def deploy(self, name: str, sender: int = 0) -> Deployed:
        artifact = self.artifacts[name]
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.send(factory.constructor(), sender)
        address = receipt["contractAddress"]
        return Deployed(self.w3.eth.contract(address=address, abi=artifact["abi"]), address.lower())

    def send(self, call: Any, sender: int = 0) -> Any:
        """Sign the call with the sender's key, send it raw, and return its receipt (anvil mines at once)."""
        key = self.keys[sender]
        tx = call.build_transaction(
            {
                "from": key.address,
                "nonce": int(self.rpc("eth_getTransactionCount", key.address, "pending"), 16),
                "gas": 3_000_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 1,
                "chainId": self.chain_id,
            }
        )
        signed = key.sign_transaction(tx)
        tx_hash = self.rpc("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        assert receipt["status"] == 1, receipt
        return receipt

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot: str) -> None:
        assert self.rpc("evm_revert", snapshot) is True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
