"""A test run that cannot stall, and stops cleanly when told to.

- A test past its timeout (pytest-timeout, thread method) gets the stacks of every thread
  and every asyncio task written out, then the run ends (``os._exit``): a stuck event
  loop cannot stop a watchdog thread. The task stacks matter most, since a hung asyncio
  test shows its main thread idle in ``select``.
- SIGTERM (a CI runner's cancel, ``./dev test``'s overall time limit) dumps the same
  stacks and then stops the run as Ctrl-C does, so fixtures tear down and the database and
  broker they started stop with it. Were teardown itself to hang, the servers' exit guards
  (``services.storage.exit_guard``) stop them once the run is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import Any

import pytest

_STDERR_FD: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _STDERR_FD
    # The terminal's stderr (pytest's capture is off while plugins configure), kept for
    # dumps at any moment.
    _STDERR_FD = os.dup(sys.__stderr__.fileno()) if sys.__stderr__ is not None else None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_as_interrupted)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            # Started in the background by a shell, which ignores Ctrl-C for it.
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop_as_interrupted(signum: int, frame: FrameType | None) -> None:
    _dump("SIGTERM: stopping the test run; where it was", frame)
    # Whoever handles Ctrl-C now (pytest, or asyncio's runner inside a test) stops the run.
    signal.raise_signal(signal.SIGINT)


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "thread":
        return None
    timer = threading.Timer(settings.timeout, _timed_out, (item, settings.timeout))
    timer.name = f"timeout {item.nodeid}"
    timer.daemon = True

    def cancel() -> None:
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's cancel hook calls it
    timer.start()
    return True


def _timed_out(item: pytest.Item, timeout_s: float) -> None:
    _dump(f"Timeout: {item.nodeid} ran past {timeout_s:g} s; the run ends")
    os._exit(1)


def _dump(title: str, here: FrameType | None = None) -> None:
    """The stacks of every thread and every asyncio task, to the terminal's stderr whatever
    the output capture does. This thread's own stack is shown from ``here`` (a signal
    handler's frame argument: where the thread was); a watchdog thread's is left out."""
    lines = [f"\n+++ {title}\n"]
    current = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if ident == current:
            if here is None:
                continue
            frame = here
        lines.append(f"~~~ thread {names.get(ident, ident)}\n")
        lines += traceback.format_stack(frame)
    for task in _tasks():
        if not task.done():
            lines.append(f"~~~ asyncio task {task.get_name()}: {task.get_coro()!r}\n")
            for frame in task.get_stack():
                lines += traceback.format_stack(frame, limit=1)
    os.write(_STDERR_FD if _STDERR_FD is not None else 2,
             "".join(lines).encode(errors="replace"))


def _tasks() -> list[asyncio.Task[Any]]:
    """Every task of every loop, read from this thread (a snapshot, good enough for a dump).
    asyncio offers no public way to list another thread's tasks; where its private
    registry is not found, the dump has the threads only."""
    registry = getattr(asyncio.tasks, "_all_tasks", None) or getattr(
        asyncio.tasks, "_scheduled_tasks", ())
    try:
        return list(registry)
    except RuntimeError:  # changed while copied
        return []
