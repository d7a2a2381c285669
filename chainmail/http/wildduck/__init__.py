"""The WildDuck-compatible API, mounted at the API prefix (`/api` by default)."""
