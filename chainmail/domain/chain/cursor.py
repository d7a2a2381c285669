"""How far a chain has been indexed, the recent block hashes reorgs are checked against, and reverts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id

# Headers of recent blocks kept for finding a common ancestor after a reorg.
RECENT_BLOCKS = 512
# Hashes of reverted blocks remembered, so their logs are reinstated rather than re-created if they return.
REVERTED_HASHES = 4096

Header = list[Any]  # [number, hash, parent_hash, timestamp]


class ChainCursor(Aggregate):
    """One per chain; every ingested page of logs advances it in the same save, so the checkpoint and the
    logs are written together, and two writers of one chain conflict on its version."""

    @staticmethod
    def create_id(chain_id: int) -> UUID:
        return natural_id("chain-cursor", str(chain_id))

    @event("Started")
    def __init__(self, chain_id: int, start_block: int) -> None:
        self.chain_id = chain_id
        self.block = start_block - 1  # the last block whose logs are all recorded
        self.hash: str | None = None
        # [number, hash] pairs rather than a dict: snapshots go through JSON, which would make keys strings
        self._recent: list[list[Any]] = []
        self.reverted: dict[str, int] = {}

    @property
    def recent(self) -> dict[int, str]:
        """Hashes of the recent blocks recorded, by number."""
        return {int(number): block_hash for number, block_hash in self._recent}

    def _set_recent(self, recent: dict[int, str]) -> None:
        self._recent = [[number, recent[number]] for number in sorted(recent)]

    def advance(self, to_block: int, to_hash: str | None, headers: list[Header], logs: int) -> None:
        """All logs of blocks up to `to_block` are recorded; `headers` are the unfinalized blocks seen."""
        self._advanced(chain_id=self.chain_id, to_block=to_block, to_hash=to_hash, headers=headers, logs=logs)

    @event("Advanced")
    def _advanced(self, chain_id: int, to_block: int, to_hash: str | None, headers: list[Header], logs: int) -> None:
        recent = self.recent
        for number, block_hash, _parent, _time in headers:
            recent[number] = block_hash
        self.block, self.hash = to_block, to_hash
        if to_hash is not None:
            recent[to_block] = to_hash
        for number in sorted(recent)[: max(len(recent) - RECENT_BLOCKS, 0)]:
            del recent[number]
        self._set_recent(recent)

    def revert(self, from_block: int) -> None:
        """Blocks from `from_block` on are no longer canonical: what they did is undone."""
        hashes = [self.recent[n] for n in sorted(self.recent) if n >= from_block]
        self._blocks_reverted(chain_id=self.chain_id, from_block=from_block, hashes=hashes)

    @event("BlocksReverted")
    def _blocks_reverted(self, chain_id: int, from_block: int, hashes: list[str]) -> None:
        self._set_recent({n: h for n, h in self.recent.items() if n < from_block})
        for block_hash in hashes:
            self.reverted[block_hash] = from_block
        if len(self.reverted) > REVERTED_HASHES:
            for block_hash in list(self.reverted)[: len(self.reverted) - REVERTED_HASHES]:
                del self.reverted[block_hash]
        self.block = from_block - 1
        self.hash = self.recent.get(self.block)
