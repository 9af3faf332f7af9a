"""Named queries kept in ``.sql`` files, as procrastinate keeps its own.

A file holds blocks that start with a ``-- name: NAME`` line; the block runs until the
next such line. Comments above a query say why it is written the way it is.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@cache
def load_queries(path: Path) -> dict[str, str]:
    """Every named query of ``path``; a name given twice is an error."""
    text = path.read_text()
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{path}: query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries
