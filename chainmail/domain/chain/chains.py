"""The chains and contracts chainmail indexes: the Mailer deployments and 3DNS (spec §5.1), merged with
the operator's per-chain settings (RPC URL, rate, polling, confirmation depth)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chainmail.domain.chain.abi import MAILER, THREEDNS

LOCAL_CHAIN_ID = 31337


@dataclass(frozen=True)
class Deployment:
    kind: str  # MAILER or THREEDNS
    address: str  # lower-case
    start_block: int


@dataclass(frozen=True)
class KnownChain:
    chain_id: int
    name: str
    testnet: bool
    deployments: tuple[Deployment, ...]


def _d(kind: str, address: str, start_block: int) -> Deployment:
    return Deployment(kind, address.lower(), start_block)


# johnqh/mail_box_contracts DEPLOYED.json (v1.17.16) and namehash/ensnode's 3DNS datasource.
KNOWN_CHAINS: dict[int, KnownChain] = {
    1: KnownChain(1, "ethereum", False, (_d(MAILER, "0x76874D65243c3a1c1693714e6Fd4039127C04845", 23913925),)),
    11155111: KnownChain(
        11155111,
        "sepolia",
        True,
        (
            _d(MAILER, "0x94c60389D5a69A3f83871990a6b140Abb47b4f10", 9740830),
            # the older Sepolia Mailer (johnqh/mail_box_configs chain-info-map.ts), older ABIs
            _d(MAILER, "0x8de9c081a31cbb14a5974b6b4a04aa8502a796f7", 9531686),
        ),
    ),
    8453: KnownChain(8453, "base", False, (_d(MAILER, "0x0005CB39f4DfF71a8307baCaC03884aBA6FD178f", 38872322),)),
    137: KnownChain(137, "polygon", False, (_d(MAILER, "0x6E641f9fc9ED47810755C4617D234bB01B37F9EC", 79714541),)),
    10: KnownChain(
        10,
        "optimism",
        False,
        (
            _d(MAILER, "0x76874D65243c3a1c1693714e6Fd4039127C04845", 144467656),
            _d(THREEDNS, "0xBB7B805B257d7C76CA9435B3ffe780355E4C4B17", 110393959),
        ),
    ),
    LOCAL_CHAIN_ID: KnownChain(LOCAL_CHAIN_ID, "local", True, ()),
}


@dataclass(frozen=True)
class ChainSpec:
    """Everything the indexer needs to know about one chain it indexes."""

    chain_id: int
    name: str
    testnet: bool
    deployments: tuple[Deployment, ...]
    rpc_url: str | None
    max_rps: float
    polling_interval: float
    confirmations: int
    use_finalized_tag: bool
    max_block_range: int
    concurrency: int
    receipts: bool = False  # fetch each block's receipts: gas used and price of the indexed transactions
    decode_processes: int = 1  # worker processes reading and decoding pages of a heavy backfill (0: threads)

    @property
    def start_block(self) -> int:
        return min((d.start_block for d in self.deployments), default=0)

    @property
    def public_rpc_url(self) -> str | None:
        return redact_url(self.rpc_url)


def redact_url(url: str | None) -> str | None:
    """An RPC URL fit to show: no user info, no query, and path segments that look like keys hidden."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = ["***" if len(s) >= 16 and any(c.isdigit() for c in s) else s for s in parts.path.split("/")]
    return urlunsplit((parts.scheme, host, "/".join(segments), "", ""))


def chain_specs(chains: Mapping[int, Any], *, enable_testnets: bool) -> list[ChainSpec]:
    """The chains to index: each configured chain with an RPC URL, enabled, and (testnets) allowed.

    `chains` maps chain id to `ChainSettings`-like objects; the known chains' contracts are the defaults.
    """
    specs = []
    for chain_id, cfg in sorted(chains.items()):
        known = KNOWN_CHAINS.get(chain_id)
        testnet = known.testnet if known else True
        if not cfg.enabled or not cfg.rpc_url:
            continue
        if testnet and chain_id != LOCAL_CHAIN_ID and not enable_testnets and known is not None:
            continue
        deployments = list(known.deployments if known else ())
        for kind, address, start in (
            (MAILER, cfg.mailer, cfg.mailer_start_block),
            (THREEDNS, cfg.threedns, cfg.threedns_start_block),
        ):
            if address:  # a configured contract replaces the known ones of its kind
                deployments = [d for d in deployments if d.kind != kind]
                deployments.append(Deployment(kind, address.lower(), start if start is not None else 0))
            elif start is not None:
                deployments = [Deployment(d.kind, d.address, start) if d.kind == kind else d for d in deployments]
        specs.append(
            ChainSpec(
                chain_id=chain_id,
                name=cfg.name or (known.name if known else f"chain-{chain_id}"),
                testnet=testnet,
                deployments=tuple(sorted(deployments, key=lambda d: (d.kind, d.start_block))),
                rpc_url=cfg.rpc_url,
                max_rps=cfg.max_rps,
                polling_interval=cfg.polling_interval,
                confirmations=cfg.confirmations,
                use_finalized_tag=cfg.use_finalized_tag,
                max_block_range=cfg.max_block_range,
                concurrency=cfg.concurrency,
                receipts=getattr(cfg, "receipts", False),
                decode_processes=getattr(cfg, "decode_processes", 1),
            )
        )
    return specs
