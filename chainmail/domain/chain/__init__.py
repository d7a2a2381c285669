"""The chain context: logs of watched contracts on EVM chains, observed block by block, and reorgs."""
