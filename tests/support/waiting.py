"""Waiting on another component's state where it offers no event to await."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 90.0,
                poll_s: float = 0.05) -> None:
    """Poll another component's state (a database row, an HTTP answer, a buffer's depth):
    there is no event to await across its API."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(poll_s)
    raise AssertionError(f"not within {timeout_s} s: {what}")
