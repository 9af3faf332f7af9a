"""Not collected by the suite: the test that tests/test_stopping_the_run.py runs in a pytest
of its own and then stops with a signal. It takes the session's database and broker, says
where they are, and waits."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import asyncpg


async def test_holds_the_database_and_the_broker(database_url: str, mqtt_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        marker = Path(os.environ["HEATLINK_STOPPED_RUN_MARKER"])
        await asyncio.to_thread(marker.write_text, json.dumps(
            {"database_url": database_url, "mqtt_url": mqtt_url, "pid": os.getpid()}))
        await asyncio.Event().wait()
    finally:
        await conn.close()
