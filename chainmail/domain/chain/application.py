"""The chain context's command side: record a page of decoded logs with the checkpoint, or revert blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from chainmail.domain.application import ContextApplication
from chainmail.domain.chain.cursor import ChainCursor, Header
from chainmail.domain.chain.logs import LogPage, LogRecord
from chainmail.domain.chain.solana import SolanaCursor


class Chain(ContextApplication):
    name: ClassVar[str] = "Chain"
    # The cursor gains an event per page for as long as the chain is followed; snapshots keep loading it cheap.
    snapshotting_intervals: ClassVar[dict[type, int]] = {ChainCursor: 200, SolanaCursor: 200}

    def cursor(self, chain_id: int, start_block: int) -> ChainCursor:
        """The chain's checkpoint as stored, or a new one just before `start_block`."""
        try:
            cursor: ChainCursor = self.repository.get(ChainCursor.create_id(chain_id))
        except AggregateNotFoundError:
            return ChainCursor(chain_id=chain_id, start_block=start_block)
        return cursor

    def record_logs(
        self,
        cursor: ChainCursor,
        records: Sequence[LogRecord],
        *,
        to_block: int,
        to_hash: str | None,
        headers: Sequence[Header] = (),
    ) -> None:
        """The logs of the blocks after the cursor up to `to_block`, and the cursor moved there, in one save.

        The logs go in one `LogPage` event; a concurrent writer of the same chain makes this save fail on
        the cursor's version, writing nothing.
        """
        if to_block < cursor.block:
            raise ValueError(f"chain {cursor.chain_id}: cannot move back from {cursor.block} to {to_block}")
        from_block = cursor.block + 1
        cursor.advance(to_block=to_block, to_hash=to_hash, headers=[list(h) for h in headers], logs=len(records))
        pending: list[Aggregate] = [cursor]
        if records:
            returned = sorted({r.block_hash for r in records if r.block_hash in cursor.reverted})
            logs = [r.to_json() for r in records]
            pending.append(LogPage(cursor.chain_id, cursor.version, from_block, to_block, logs, returned))
        self.save(*pending)

    def revert_blocks(self, cursor: ChainCursor, from_block: int) -> None:
        """Blocks from `from_block` on left the canonical chain."""
        cursor.revert(from_block)
        self.save(cursor)
