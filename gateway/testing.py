"""Fakes of the gateway's roles, for tests of the parts that use them.

`InMemoryBuffer` passes the same contract suite as `SqliteBuffer`
(tests/gateway/test_buffer_contract.py).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from gateway.drops import DropLog
from gateway.fair_shares import fair_shares
from gateway.protocols import (
    Arrival,
    Delivered,
    SendOutcome,
    Transaction,
)
from gateway.stats import SourceStats
from heatlink.clock import Clock
from heatlink.wire import IngestResult, Reading


@dataclass(frozen=True, slots=True)
class InMemoryTransaction:
    readings: Sequence[Reading]
    batch_id: str
    taken: dict[str, int] = field(repr=False)  # series -> how many of its oldest


class InMemoryBuffer:
    """Not durable; a quota in readings instead of bytes."""

    def __init__(self, clock: Clock, max_readings: int = 1_000_000) -> None:
        self._clock = clock
        self.max_readings = max_readings
        # series -> deque of (row id, added_at, reading), oldest first
        self._rows: OrderedDict[str, deque[tuple[int, float, Reading]]] = OrderedDict()
        self._ids = itertools.count(1)
        self._open: InMemoryTransaction | None = None
        self.drops = DropLog(f"{max_readings} readings")

    async def add(self, readings: Sequence[Reading]) -> None:
        added_at = self._clock.now().timestamp()
        for r in readings:
            self._rows.setdefault(r.series, deque()).append((next(self._ids), added_at, r))
        self._enforce_quota()

    def _enforce_quota(self) -> None:
        total = sum(len(q) for q in self._rows.values())
        if total <= self.max_readings:
            if total <= self.max_readings // 2:
                self.drops.fits_again()
            return
        # The batch in flight is each series' first `taken` rows: never dropped.
        taken = self._open.taken if self._open is not None else {}
        dropped: list[Reading] = []
        for _ in range(total - self.max_readings):
            heads = [(q[taken.get(s, 0)][0], s) for s, q in self._rows.items()
                     if len(q) > taken.get(s, 0)]
            if not heads:
                break
            _, series = min(heads)
            q = self._rows[series]
            keep = [q.popleft() for _ in range(taken.get(series, 0))]
            dropped.append(q.popleft()[2])
            q.extendleft(reversed(keep))
        if dropped:
            self.drops.dropped(len(dropped), {r.series for r in dropped},
                               min(r.ts for r in dropped), max(r.ts for r in dropped))

    async def begin(self, max_readings: int) -> InMemoryTransaction | None:
        if self._open is not None:
            raise RuntimeError("a transaction is already open; end it first")
        shares = fair_shares({k: len(q) for k, q in self._rows.items()}, max_readings)
        if not shares:
            return None
        readings: list[Reading] = []
        ids: list[int] = []
        for series, n in shares.items():
            for row_id, _, r in itertools.islice(self._rows[series], n):
                readings.append(r)
                ids.append(row_id)
        batch_id = "mem-" + hashlib.sha256(repr(sorted(ids)).encode()).hexdigest()[:20]
        self._open = InMemoryTransaction(readings, batch_id, dict(shares))
        return self._open

    async def end(self, tx: Transaction, *, delivered: bool) -> None:
        if tx is not self._open or not isinstance(tx, InMemoryTransaction):
            raise RuntimeError("end() of a transaction that is not the open one")
        self._open = None
        if delivered:
            taken_ids: set[int] = set()
            for series, n in tx.taken.items():
                taken_ids.update(row[0] for row in itertools.islice(self._rows[series], n))
            for q in self._rows.values():
                while q and q[0][0] in taken_ids:
                    q.popleft()
        if self.drops.current is not None:
            self._enforce_quota()  # perhaps the episode is over

    async def depth(self) -> int:
        return sum(len(q) for q in self._rows.values())

    async def oldest_age_s(self) -> float | None:
        heads = [q[0] for q in self._rows.values() if q]
        if not heads:
            return None
        oldest = min(heads, key=lambda row: row[0])
        return max(0.0, self._clock.now().timestamp() - oldest[1])

    @property
    def dropped_total(self) -> int:
        return self.drops.dropped_total

    async def close(self) -> None:
        return None


class RecordingUplink:
    """Stores like the service: idempotent by (series, ts), replays a known batch id."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, object], float] = {}
        self.batches: list[tuple[str, list[Reading]]] = []
        self._answers: dict[str, IngestResult] = {}

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        self.batches.append((batch_id, list(readings)))
        if batch_id in self._answers:
            return Delivered(self._answers[batch_id].model_copy(update={"replayed": True}))
        accepted = duplicates = 0
        for r in readings:
            key = (r.series, r.ts)
            if key in self.stored:
                duplicates += 1
            else:
                self.stored[key] = r.value
                accepted += 1
        result = IngestResult(batch_id=batch_id, accepted=accepted, duplicates=duplicates)
        self._answers[batch_id] = result
        return Delivered(result)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class FlakyUplink(RecordingUplink):
    """Answers with scripted outcomes first (None = behave like `RecordingUplink`), and
    readiness probes with scripted answers (then ready)."""

    def __init__(self, script: Iterable[SendOutcome | None],
                 readiness: Iterable[bool] = ()) -> None:
        super().__init__()
        self.script = deque(script)
        self.readiness = deque(readiness)
        self.attempts: list[tuple[str, int]] = []  # (batch id, readings) of every attempt
        self.probes = 0

    async def ready(self) -> bool:
        self.probes += 1
        return self.readiness.popleft() if self.readiness else True

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        self.attempts.append((batch_id, len(readings)))
        if self.script:
            outcome = self.script.popleft()
            if outcome is not None:
                return outcome
        return await super().send(batch_id, readings)


class InMemorySource:
    """Yields the arrivals put into it; records which were acknowledged."""

    kind = "memory"

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.stats = SourceStats(name, self.kind, up=True)
        self.acked: list[Sequence[Reading]] = []
        self._queue: asyncio.Queue[Sequence[Reading]] = asyncio.Queue()

    @property
    def up(self) -> bool:
        return True

    def put(self, readings: Sequence[Reading]) -> None:
        self._queue.put_nowait(readings)

    async def stream(self) -> AsyncIterator[Arrival]:
        while True:
            readings = await self._queue.get()
            self.stats.readings_total += len(readings)
            yield Arrival(readings, ack=functools.partial(self.acked.append, readings))
