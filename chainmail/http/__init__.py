"""The Falcon edge: app factory, middleware, and resources for /api (WildDuck) and /idx (indexer)."""
