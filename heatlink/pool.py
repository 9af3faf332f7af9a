"""How heatlink's connection pools hand a connection back: as asyncpg always does, without
its reset query."""

from __future__ import annotations

from typing import Any


async def keep_session(conn: Any) -> None:
    """A pool's ``reset`` (``asyncpg.create_pool(reset=keep_session)``): nothing beyond what
    asyncpg does on every release anyway (roll back a transaction left open, drop the
    connection's listeners).

    asyncpg's own reset sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL;`` at each release, a round trip that every ingest batch, monitor save, alert
    and delivery waited for before answering or going on (under load, a turn of a busy
    event loop each time). heatlink leaves no session state on a pooled connection: locks
    are taken for the transaction (``pg_advisory_xact_lock``; the migrator's session lock
    is on a connection of its own), listeners have connections of their own, settings are
    the pool's connection settings, and the staging table is meant to stay (ON COMMIT
    DELETE ROWS). Keep it so: what a pooled connection's session is told, the next user of
    that connection inherits.
    """
