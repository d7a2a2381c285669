"""Storage plumbing shared by both sides: the event store's configuration, the SQL engine, blobs."""
