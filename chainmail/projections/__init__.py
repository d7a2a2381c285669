"""Read models: SQLAlchemy Core tables, the projections that fill them, and the queries the HTTP layer calls."""
