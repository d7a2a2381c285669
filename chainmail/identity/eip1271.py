"""EIP-1271 contract-wallet signatures: asks the wallet contract itself, `isValidSignature(hash, signature)`
over the EIP-191 hash of the message, through a configured EVM RPC. Valid only when it answers the magic
value 0x1626ba7e; an address with no code, a revert, or an unreachable node all mean "not signed"."""

from __future__ import annotations

import base64
import binascii
import re

import structlog
from eth_abi import encode
from eth_account.messages import defunct_hash_message
from eth_utils import to_checksum_address
from web3 import Web3

log = structlog.get_logger(__name__)

MAGIC = bytes.fromhex("1626ba7e")
SELECTOR = bytes.fromhex("1626ba7e")  # isValidSignature(bytes32,bytes): the magic value is its own selector
_HEX = re.compile(r"^(0x)?([0-9a-fA-F]{2}){1,2048}$")


def signature_bytes(signature: str) -> bytes | None:
    """A contract wallet's signature: any length, as `0x`-hex, bare hex or base64."""
    text = signature.strip()
    if _HEX.match(text):
        return bytes.fromhex(text.removeprefix("0x"))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw or None


class ContractSignatures:
    def __init__(self, rpc_url: str, *, timeout: float = 5.0) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))

    def is_valid(self, address: str, message: str, signature: str) -> bool:
        raw = signature_bytes(signature)
        if raw is None:
            return False
        digest = bytes(defunct_hash_message(text=message))
        try:
            contract = to_checksum_address(address)
            # an address with no code answers an empty result: not the magic value, so no get_code first
            answer = self.w3.eth.call({"to": contract, "data": SELECTOR + encode(["bytes32", "bytes"], [digest, raw])})
        except Exception as error:  # a revert, a bad answer or a network error: the wallet did not sign
            log.info("isValidSignature failed", address=address, error=str(error)[:200])
            return False
        return bytes(answer)[:4] == MAGIC
