"""A service stopped while it starts leaves no live fan-out task behind: the fan-out waits
for its LISTEN connection while starting, and nobody holds its stop yet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import cast

import asyncpg
import pytest

from services.live.fanout import LiveFanout
from services.live.hub import LiveHub
from tests.support.faults import FrozenService


@pytest.fixture
def frozen_database() -> Iterator[FrozenService]:
    made = FrozenService()
    try:
        yield made
    finally:
        made.close()


def fanout_tasks(besides: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    """Fan-out tasks still pending, other than ``besides`` (a service other tests share
    runs its own in this loop)."""
    return {t for t in asyncio.all_tasks() - besides
            if t.get_name() in {"live listener", "live sender"} and not t.done()}


async def test_cancelled_while_connecting_its_tasks_end_with_it(
        frozen_database: FrozenService) -> None:
    url = frozen_database.url.replace("http://", "postgresql://postgres@") + "/heatlink"
    fanout = LiveFanout(LiveHub(), cast(asyncpg.Pool, None), url)
    before = asyncio.all_tasks()
    starting = asyncio.create_task(fanout.start())
    await asyncio.sleep(0)  # one step: its tasks are made at once; the LISTEN never comes
    assert fanout_tasks(before)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert fanout_tasks(before) == set()
