"""Real wallets for the identity tests: EVM keys (eth-account) and Solana keys (solders) that sign."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

import falcon.testing
from eth_account import Account
from eth_account.messages import encode_defunct
from solders.keypair import Keypair

Encoding = Literal["hex", "0xhex", "base64"]


@dataclass
class EvmWallet:
    account: object = field(default_factory=Account.create)

    @property
    def address(self) -> str:
        return self.account.address  # type: ignore[attr-defined]

    @property
    def canonical(self) -> str:
        return self.address.lower()

    def sign(self, message: str, encoding: Encoding = "0xhex") -> str:
        raw = self.account.sign_message(encode_defunct(text=message)).signature  # type: ignore[attr-defined]
        if encoding == "hex":
            return raw.hex().removeprefix("0x")
        if encoding == "base64":
            return base64.b64encode(bytes(raw)).decode()
        return "0x" + raw.hex().removeprefix("0x")


@dataclass
class SolanaWallet:
    keypair: Keypair = field(default_factory=Keypair)

    @property
    def address(self) -> str:
        return str(self.keypair.pubkey())

    canonical = address

    def sign(self, message: str, encoding: str = "base58") -> str:
        return str(self.keypair.sign_message(message.encode()))


Wallet = EvmWallet | SolanaWallet


def sign_in_message(client: falcon.testing.TestClient, wallet: Wallet, prefix: str = "/idx") -> str:
    got = client.simulate_get(
        f"{prefix}/wallets/{wallet.address}/message",
        params={"chainId": "1", "domain": "mail.example.com", "url": "https://mail.example.com/login"},
    )
    assert got.status_code == 200, got.text
    return got.json["data"]["message"]


def signed_headers(wallet: Wallet, message: str, *, signature: str | None = None, signer: str | None = None) -> dict:
    headers = {"x-message": quote(message, safe=""), "x-signature": signature or wallet.sign(message)}
    if signer is not None:
        headers["x-signer"] = signer
    return headers


def sign_in_headers(client: falcon.testing.TestClient, wallet: Wallet) -> dict:
    return signed_headers(wallet, sign_in_message(client, wallet))
