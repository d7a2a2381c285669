"""The ranges numbers from outside must fall in before anything records them: what every read model can hold."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint and SQLite integer
SAFE_INTEGER_MAX = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER: what a client reading our JSON keeps exactly
MAX_SLOT = SAFE_INTEGER_MAX  # Solana is near slot 4e8; at 2.5 slots a second this lasts for ages
MAX_BLOCK_NUMBER = SAFE_INTEGER_MAX
MAX_CHAIN_ID = SAFE_INTEGER_MAX  # EIP-2294 bounds chain ids at 2**53 - 1 for the same reason
MAX_UNIX_TIME = 2**32 - 1  # seconds: February 2106, past every block time chainmail will see
MAX_INDEX_IN_BLOCK = 1_000_000

# JSON numbers from a chain's payloads: a string or a float is a malformed payload, not a number.
Slot = Annotated[int, Strict(), Field(ge=0, le=MAX_SLOT)]
UnixTime = Annotated[int, Strict(), Field(ge=0, le=MAX_UNIX_TIME)]
IndexInBlock = Annotated[int, Strict(), Field(ge=0, le=MAX_INDEX_IN_BLOCK)]
# Parameters (a query string carries text): numeric text is accepted, the range is not negotiable.
ChainIdParam = Annotated[int, Field(ge=-MAX_CHAIN_ID, le=MAX_CHAIN_ID)]  # Solana networks are negative
SlotParam = Annotated[int, Field(ge=0, le=MAX_SLOT)]
