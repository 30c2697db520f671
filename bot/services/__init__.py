"""Use cases: each takes a database session from its caller and never commits."""
