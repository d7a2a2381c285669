"""Mail transport edges: MIME parsing and building, and the delivery path into mailboxes."""
