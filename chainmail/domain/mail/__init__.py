"""The mail context: WildDuck's users, addresses and mailboxes (messages join in the mail store)."""
