"""A service of its own that lives through the demo's furnace trip: the demo scenario's
first minutes, replayed through the real ingest so that they end now, and the monitor and
alerts reacting to them as they would live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from services.access.principal import Role
from services.settings import Settings
from tests.dashboard.conftest import ORG_ROLES
from tests.dashboard.plant import ReplayedPlant
from tests.support.servers import empty_database
from tests.support.service import AppHandle, make_token, make_user, running_app

TRIP_AT_S = 180  # the demo scenario's furnace trip
AFTER_TRIP_S = 780  # how far past the trip the replay ends: the tank falls (from ~6 min after
#                    the trip, the pipe and the mixing having run out), not yet at 10 °C
BOUND_S = 90.0  # functional bound on a wait: past it the service is stuck, not slow
T = TypeVar("T")


@dataclass
class Trip:
    service: AppHandle
    database_url: str
    users: dict[str, tuple[str, str]]


@asynccontextmanager
async def tripped_service(postgres_url: str, cluster_file: Path) -> AsyncIterator[Trip]:
    async with empty_database(postgres_url) as url:
        settings = Settings(database_url=url, retention_days=30, token_cache_ttl_s=0,
                            cluster_file=cluster_file)
        async with running_app(settings) as service:
            tokens = {gw: await make_token(url, owner, Role.GATEWAY, gateway=gw)
                      for gw, owner in (("glomfjord-gw1", "glomfjord-smelter"),
                                        ("mo-gw1", "mo-ferrosilicon"))}
            clients = {gw: service.client(token) for gw, token in tokens.items()}
            try:
                replay = ReplayedPlant(history_s=TRIP_AT_S + AFTER_TRIP_S, live_s=20,
                                       scenario="demo")
                await replay.send_history(clients)
            finally:
                for client in clients.values():
                    await client.aclose()
            users = {org: await make_user(url, org, role) for org, role in ORG_ROLES.items()}
            yield Trip(service, url, users)


async def until(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Ask the running service (over HTTP) until ``check`` answers something."""
    deadline = asyncio.get_running_loop().time() + BOUND_S
    while asyncio.get_running_loop().time() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {BOUND_S} s: {what}")
