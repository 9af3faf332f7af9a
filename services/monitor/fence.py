"""The fencing token of a partitioned monitor's save (deploy/HA.md): checked first in the
transaction that stores findings and watermarks, so a replica that lost a partition
stores nothing for it, however late it notices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from services.monitor.lease import query


class LostPartitions(Exception):
    def __init__(self, partitions: set[int]) -> None:
        super().__init__(f"monitor partitions {sorted(partitions)} are held by another "
                         "replica now")
        self.partitions = partitions


@dataclass(frozen=True)
class Fence:
    replica: str
    epochs: Mapping[int, int]  # partition -> epoch the evaluation ran under
    horizon: int  # inbox rows of transactions below this id are applied by this save

    async def check(self, conn: asyncpg.Connection) -> None:
        """Raise `LostPartitions` (the transaction is undone) unless every partition is
        still held at its epoch; advance each one's inbox to ``horizon``."""
        parts = list(self.epochs)
        rows = await conn.fetch(query("fence"), self.replica, parts,
                                [self.epochs[p] for p in parts], str(self.horizon))
        kept = {r["partition"] for r in rows}
        if len(kept) != len(parts):
            raise LostPartitions(set(parts) - kept)
