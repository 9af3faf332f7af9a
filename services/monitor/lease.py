"""Partitions of the monitor held by lease in PostgreSQL (deploy/HA.md).

Each replica heartbeats in ``service_replicas``; its fair share of the partitions is
``ceil(P / live replicas)``. Every third of the lease it renews what it holds, releases
what is beyond its share (a replica joined) and claims free ones up to its share (a
replica left: its leases ran out). Times are the database's ``now()``. What the replica
holds, with each partition's epoch, is ``owned``; the monitor evaluates under that and
every save is fenced on it (``fence`` in partitions.sql), so a replica that lost a
partition, however late it notices, writes nothing more for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
from pathlib import Path

import asyncpg

from heatlink.aio import cancel_and_wait
from heatlink.sqlfile import load_queries

log = logging.getLogger(__name__)
_QUERIES = Path(__file__).with_name("partitions.sql")


def query(name: str) -> str:
    return load_queries(_QUERIES)[name]


class PartitionLease:
    def __init__(self, pool: asyncpg.Pool, partitions: int, lease_s: float,
                 replica: str | None = None) -> None:
        self.pool = pool
        self.partitions = partitions
        self.lease_s = lease_s
        # The process id lets an operator (and a test) tell which process holds what; the
        # random part makes a restarted process a new owner (a new epoch), never the old.
        self.replica = replica or (f"{socket.gethostname()}-{os.getpid()}-"
                                   f"{secrets.token_hex(3)}")
        self.owned: dict[int, int] = {}  # partition -> epoch it is held at
        self.changed = asyncio.Event()  # set when ``owned`` changed
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pool.execute(query("make_partitions"), self.partitions)
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="heatlink-monitor-lease")

    async def stop(self) -> None:
        """Give the partitions back at once: the others need not wait for the lease."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        try:
            async with self.pool.acquire() as conn:
                await conn.execute(query("release"), self.replica, list(self.owned))
                await conn.execute(query("forget_replica"), self.replica)
        except (OSError, asyncpg.PostgresError):
            log.warning("could not release the monitor's partitions; they move when "
                        "their leases run out", exc_info=True)
        self._set({})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.refresh()
            except Exception:  # an outage: the leases run out, the saves are fenced
                log.warning("monitor partition leases not renewed", exc_info=True)

    async def refresh(self) -> None:
        """Heartbeat, renew, release beyond the fair share, claim up to it."""
        async with self.pool.acquire() as conn:
            await conn.execute(query("heartbeat"), self.replica)
            live = max(1, await conn.fetchval(query("live_replicas"), self.lease_s))
            share = math.ceil(self.partitions / live)
            rows = await conn.fetch(query("renew"), self.replica, self.lease_s,
                                    self.partitions)
            held = {r["partition"]: r["epoch"] for r in rows}
            if len(held) > share:
                extra = sorted(held)[share:]
                await conn.execute(query("release"), self.replica, extra)
                for p in extra:
                    del held[p]
            elif len(held) < share:
                rows = await conn.fetch(query("claim"), self.replica, self.lease_s,
                                        share - len(held), self.partitions)
                held.update((r["partition"], r["epoch"]) for r in rows)
        self._set(held)

    def lost(self, partitions: set[int]) -> None:
        """A save found these no longer held: stop evaluating them now."""
        self._set({p: e for p, e in self.owned.items() if p not in partitions})

    def _set(self, held: dict[int, int]) -> None:
        if held != self.owned:
            gained = sorted(set(held) - set(self.owned))
            gone = sorted(set(self.owned) - set(held))
            log.info("monitor partitions of %s: %s (claimed %s, gone %s)", self.replica,
                     sorted(held), gained, gone)
            self.owned = held
            self.changed.set()
