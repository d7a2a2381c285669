"""The rewards context: points awarded to wallets for what they do, as an immutable ledger of events."""
