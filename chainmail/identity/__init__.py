"""Adapters of the identity context: settings, name resolution, entitlements, signing keys, rate limits."""
