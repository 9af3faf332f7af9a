"""Ingest: a batch of readings in, each checked on its own, the good ones stored once."""
