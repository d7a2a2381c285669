"""chainmail: an event-sourced WildDuck-compatible mail API and the Mail Box Indexer."""
