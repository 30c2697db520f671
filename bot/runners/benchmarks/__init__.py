"""Benchmarks run by `intake bench …`."""
