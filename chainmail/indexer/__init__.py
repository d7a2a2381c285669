"""`chainmail index`: JSON-RPC ingestion of contract logs into the chain context, one worker per chain."""
