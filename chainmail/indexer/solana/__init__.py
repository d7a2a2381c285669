"""Solana: the Mailer program's instructions, Helius webhook payloads and the Helius REST API."""
