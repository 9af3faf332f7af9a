"""Queries of stored readings: series metadata, ranges, aggregates and latest values."""
