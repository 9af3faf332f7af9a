"""Cancelling a running part at a random moment, and requiring it to stop in time."""

from __future__ import annotations

import asyncio
import random
import traceback

import pytest

STOP_BOUND_S = 2.0  # a bound on "does not hang", not a speed figure


async def at_random_point(rng: random.Random, max_s: float, max_turns: int = 200) -> None:
    """Wait a random time, then a random number of the event loop's turns: a cancellation
    that races with an I/O completion happens in one particular turn."""
    await asyncio.sleep(rng.uniform(0.0, max_s))
    for _ in range(rng.randrange(max_turns)):
        await asyncio.sleep(0)


async def stop_within_bound(task: asyncio.Task[None], what: str) -> None:
    task.cancel()
    try:
        async with asyncio.timeout(STOP_BOUND_S):
            await asyncio.wait({task})
    except TimeoutError:
        stacks = "".join(f"~~~ task {t.get_name()}\n" + "".join(
            line for frame in t.get_stack() for line in traceback.format_stack(frame, limit=1))
            for t in asyncio.all_tasks() if not t.done())
        # Give it a last chance so that it does not linger in the session's loop.
        task.cancel()
        await asyncio.wait({task}, timeout=30)
        pytest.fail(f"{what}: it did not stop within {STOP_BOUND_S} s of its "
                    f"cancellation\n{stacks}")
    assert task.cancelled(), f"{what}: ended with {task.exception()!r} instead"
