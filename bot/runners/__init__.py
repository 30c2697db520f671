"""Entry points: the `intake` command builds everything once and starts what it asks for."""
