"""Whether the database is reachable: known in one place, told once, counted always.

Whatever meets an unreachable database reports it here (`StorageHealth.failed`): the app's
exception handler (so no route does it itself, see `answers.py`), the readiness probe and
the background loops. The first report logs one line and starts a probe; the probe's first
success logs one more (Home Assistant's update coordinator does the same for its sources).
Every report is counted by reason in `heatlink_storage_unavailable_total`, and
`heatlink_storage_up` says where things stand.

What counts as "unavailable" is decided by `unavailable_reason`: asyncpg's connection and
shutdown errors, a connection whose protocol broke with its server, and socket errors raised
inside asyncpg (connection refused, reset, a pool that timed out). Anything else (a
constraint violation, a bug) is not an outage and stays what it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.storage.queries import q

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
RETRY_AFTER_S = 5  # what a 503 asks of its client; a gateway also watches /readyz meanwhile


def unavailable_reason(exc: BaseException) -> str | None:
    """The metric's reason when `exc` means the database cannot be reached, else None."""
    match exc:
        case asyncpg.CannotConnectNowError():
            return "starting_or_stopping"
        case asyncpg.AdminShutdownError() | asyncpg.CrashShutdownError():
            return "shutting_down"
        case asyncpg.TooManyConnectionsError():
            return "too_many_connections"
        case asyncpg.ConnectionDoesNotExistError():
            return "connection_lost"
        case asyncpg.PostgresConnectionError():
            return "connection_failed"
        case asyncpg.InterfaceError() if "connection is closed" in str(exc):
            return "connection_lost"
        case asyncpg.InternalClientError() if str(exc).startswith("cannot switch to state"):
            # A connection whose protocol was still finishing an operation that met a
            # dying server (seen in a failover). asyncpg raises this before the request is
            # sent and aborts the connection, so the pool drops it: nothing was done and a
            # retry gets a new connection.
            return "connection_broken"
        case ConnectionRefusedError() if _raised_in_asyncpg(exc):
            return "connection_refused"
        case TimeoutError() if _raised_in_asyncpg(exc):
            return "timeout"
        case ConnectionError() if _raised_in_asyncpg(exc):
            return "connection_lost"
        case OSError() if _raised_in_asyncpg(exc):
            return "unreachable"
    return None


class _ToldByStorageHealth(logging.Filter):
    """asyncpg's pool logs a traceback each time it fails to reconnect its floor of idle
    connections (1, 2, 4… s apart): in an outage that is the outage again, which the
    service tells once. Other records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or unavailable_reason(exc) is None


_POOL_FILTER = _ToldByStorageHealth()


def _raised_in_asyncpg(exc: BaseException) -> bool:
    # A socket error is the database's only when it came through asyncpg: the same
    # OSError from a file or another peer is no storage outage.
    return any(frame.f_globals.get("__name__", "").startswith("asyncpg.")
               for frame, _ in traceback.walk_tb(exc.__traceback__))


class StorageHealth:
    """Safe to call `failed` from any thread (the alert worker has a loop of its own)."""

    def __init__(self, *, registry: CollectorRegistry | None = None, probe_s: float = 0.5,
                 sleep: Sleep = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.probe_s = probe_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._up_gauge = Gauge("heatlink_storage_up", "1 while the database is reachable",
                               registry=registry)
        self._up_gauge.set(1)
        self.unavailable = Counter(
            "heatlink_storage_unavailable", "Operations that found the database unreachable, "
            "by reason", ["reason"], registry=registry)
        self._lock = threading.Lock()
        self._up = True
        self._down_since = 0.0
        self._failures = 0  # in the current outage
        self.reason: str | None = None  # of the current outage
        self._probe: Callable[[], Awaitable[object]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self._up

    def start(self, pool: asyncpg.Pool) -> None:
        """Bind to the running loop; the probe borrows a connection of `pool`."""
        async def probe() -> None:
            async with pool.acquire(timeout=2) as conn:
                await conn.fetchval(q("probe"))

        self.start_probing_with(probe)

    def start_probing_with(self, probe: Callable[[], Awaitable[object]]) -> None:
        self._probe = probe
        self._loop = asyncio.get_running_loop()
        pool_log = logging.getLogger("asyncpg.pool")
        if _POOL_FILTER not in pool_log.filters:
            pool_log.addFilter(_POOL_FILTER)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def failed(self, exc: BaseException, where: str) -> bool:
        """Report an exception met by `where`. True when it means the database is
        unreachable (counted; the outage logged if it is new); False when it is something
        else, which the caller handles as before."""
        reason = unavailable_reason(exc)
        if reason is None:
            return False
        self.unavailable.labels(reason).inc()
        with self._lock:
            self._failures += 1
            if not self._up:
                return True
            self._up = False
            self._down_since = self._monotonic()
            self.reason = reason
        self._up_gauge.set(0)
        log.error("storage unavailable (%s: %s; first met by %s): answering 503 and retrying "
                  "in the background until it is back", reason, _one_line(exc), where)
        self._probe_soon()
        return True

    def recovered(self) -> None:
        with self._lock:
            if self._up:
                return
            self._up = True
            down_s = self._monotonic() - self._down_since
            failures, self._failures = self._failures, 0
            self.reason = None
        self._up_gauge.set(1)
        log.warning("storage is back after %.1f s; %d operations found it unavailable "
                    "meanwhile", down_s, failures)

    def _probe_soon(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._ensure_probe()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._ensure_probe)

    def _ensure_probe(self) -> None:
        if self._probe is not None and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(
                self._probe_until_up(self._probe), name="storage probe")

    async def _probe_until_up(self, probe: Callable[[], Awaitable[object]]) -> None:
        while not self._up:
            await self._sleep(self.probe_s)
            try:
                await probe()
            except Exception as exc:
                # The probe's own failures are not counted: they would only count the probe.
                if unavailable_reason(exc) is None:
                    log.warning("storage probe failed: %s", _one_line(exc))
                continue
            self.recovered()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
