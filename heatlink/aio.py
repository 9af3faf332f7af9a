"""Waiting and stopping in asyncio without ever losing a cancellation.

Two ways a loop can swallow the cancellation meant to stop it, both seen stalling the test
suite in the gateway's OPC UA source on Python 3.11:

- ``asyncio.wait_for`` returns the inner result when the caller's cancellation races with
  the inner future finishing. ``asyncio.timeout`` counts cancellations
  (``Task.cancelling``) and passes the caller's on.
- ``child.cancel()`` then ``suppress(CancelledError): await child``: a cancellation of the
  caller while it waits is delivered by cancelling ``child``, and is suppressed with it.

Every loop of heatlink waits and stops its helpers through these functions; a loop that
awaits third-party code also calls ``raise_if_cancel_requested`` at its top.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` has passed; True when it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and return once it has ended.

    The task's own cancellation is expected and not raised; a cancellation of the caller
    that arrives while it waits is (``suppress(CancelledError)`` around the wait would
    swallow both). A caller already being cancelled, stopping its parts on the way out,
    stops all of them.
    """
    task.cancel()
    caller = asyncio.current_task()
    requests = caller.cancelling() if caller is not None else 0
    try:
        await task
    except asyncio.CancelledError:
        if caller is not None and caller.cancelling() > requests:
            raise


async def stop_together(stops: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """Run every stop at once, so that one part's wait (a thread joined, a broker that
    does not answer) does not hold up the others'; all run to their end, then the first
    failure, if any, is raised."""
    results = await asyncio.gather(*(stop() for stop in stops), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def forget(task: asyncio.Task[Any]) -> None:
    """Done-callback of a task whose outcome is of no interest (an abandoned goodbye or
    connect): fetching it keeps asyncio from logging "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()


def cancel_requested() -> bool:
    """Whether the running task has been asked to stop and has not taken the request back.

    True also when a library swallowed the ``CancelledError`` (Python 3.11's ``wait_for``
    does, and asyncua calls it), since the request stays counted on the task.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_cancel_requested() -> None:
    """Re-raise a cancellation that a library swallowed. Call it at the top of every loop
    that awaits third-party code, so that such a loop still stops when asked."""
    if cancel_requested():
        raise asyncio.CancelledError
