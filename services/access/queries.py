"""The access domain's statements, kept in queries.sql and loaded by name."""

from __future__ import annotations

from pathlib import Path

from heatlink.sqlfile import load_queries

_QUERIES = Path(__file__).with_name("queries.sql")


def q(name: str) -> str:
    """The statement ``name`` of queries.sql."""
    return load_queries(_QUERIES)[name]
