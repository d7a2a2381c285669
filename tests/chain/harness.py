"""Test harness for the indexer: a chain spec for an anvil node, one-shot indexing, and the chain read
models as plain rows for row-for-row comparisons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from chainmail.config import ChainSettings
from chainmail.domain.chain.abi import MAILER, THREEDNS
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.chains import ChainSpec, Deployment, chain_specs
from chainmail.indexer.ingest import ChainIndexer
from chainmail.projections.blocks import evm_checkpoints
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.chain_mails import evm_fee_settings, evm_mails, evm_shares
from chainmail.projections.chain_names import threedns_name_events, threedns_names
from chainmail.projections.delegations import evm_delegation_history, evm_delegations
from chainmail.system import System
from tests.chain.anvil import Anvil

# Every read model that must equal a fresh index of the canonical chain.
CANONICAL_TABLES = (
    evm_event_log,
    evm_mails,
    evm_shares,
    evm_fee_settings,
    evm_delegation_history,
    evm_delegations,
    threedns_name_events,
    threedns_names,
)


def spec_for(
    anvil: Anvil,
    mailers: list[str] = (),  # type: ignore[assignment]
    threedns: str | None = None,
    *,
    confirmations: int = 64,
    max_block_range: int = 2000,
    concurrency: int = 2,
    max_rps: float = 1000.0,
) -> ChainSpec:
    settings = ChainSettings(
        rpc_url=anvil.url,
        confirmations=confirmations,
        max_block_range=max_block_range,
        concurrency=concurrency,
        max_rps=max_rps,
        polling_interval=0.05,
    )
    (base,) = chain_specs({anvil.chain_id: settings}, enable_testnets=False)
    deployments = [Deployment(MAILER, address.lower(), 0) for address in mailers]
    if threedns:
        deployments.append(Deployment(THREEDNS, threedns.lower(), 0))
    return ChainSpec(**{**base.__dict__, "deployments": tuple(deployments)})


def indexer(system: System, spec: ChainSpec) -> ChainIndexer:
    return ChainIndexer(system.context(Chain), system.engine, spec)


def index(system: System, spec: ChainSpec) -> int:
    """Index the chain up to its head; the checkpoint block."""
    return indexer(system, spec).sync().block


def rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(r._mapping) for r in result]


def read_models(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    models = {table.name: rows(engine, table) for table in CANONICAL_TABLES}
    models["evm_checkpoints"] = [
        {k: v for k, v in r.items() if k in ("chain_id", "block_number", "block_hash")}
        for r in rows(engine, evm_checkpoints)
    ]
    return models
