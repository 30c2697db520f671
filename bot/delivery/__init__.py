"""Delivery of the outbox: the dispatcher, its pacing, and the signed webhook push."""
