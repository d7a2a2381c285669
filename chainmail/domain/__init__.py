"""The domain: aggregates, events and rules. Pure: no SQL, no HTTP, no clock or randomness not passed in."""
