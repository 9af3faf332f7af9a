"""A backlog goes out in lanes: requests at once, each series in one lane and in order, and
the readings leave the buffer only when the service has answered for all of them."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.buffer_sqlite import SqliteBuffer
from gateway.columns import ReadingColumns
from gateway.deadletter import DeadLetterFile
from gateway.forwarder import Forwarder
from gateway.lanes import lanes_of
from gateway.protocols import Buffer, Delivered, SendOutcome
from gateway.testing import InMemoryBuffer, RecordingUplink
from heatlink.testing import FakeClock
from heatlink.wire import IngestResult, Reading, Rejection, RejectReason

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


def readings(series: str, n: int, start: int = 0) -> list[Reading]:
    return [Reading(series, T0 + timedelta(seconds=start + i), float(start + i))
            for i in range(n)]


class GatedUplink(RecordingUplink):
    """Stores like the service, but answers a request only when the test opens its gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gated = True
        self.waiting: dict[str, asyncio.Event] = {}
        self.arrived = asyncio.Condition()

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        if not self.gated:
            return await super().send(batch_id, readings)
        gate = self.waiting.setdefault(batch_id, asyncio.Event())
        async with self.arrived:
            self.arrived.notify_all()
        await gate.wait()
        del self.waiting[batch_id]
        answer = await super().send(batch_id, readings)
        async with self.arrived:
            self.arrived.notify_all()
        return answer

    async def in_flight(self, count: int) -> list[str]:
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.waiting) >= count)
        return sorted(self.waiting)

    async def answered(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.batches) >= count)


def forwarder(buffer: Buffer, uplink: RecordingUplink, tmp_path: Path, clock: FakeClock,
              *, batch: int, lanes: int = 2) -> Forwarder:
    return Forwarder(buffer, uplink, DeadLetterFile(tmp_path / "dead.jsonl", clock),
                     batch_max_readings=batch, lanes=lanes, rng=random.Random(1))


async def test_a_backlog_goes_out_as_requests_at_once_and_leaves_when_all_are_answered(
        tmp_path: Path) -> None:
    clock = FakeClock(T0)
    buffer = InMemoryBuffer(clock)
    await buffer.add([r for s in "abcd" for r in readings(s, 100)])
    uplink = GatedUplink()
    sending = asyncio.create_task(forwarder(buffer, uplink, tmp_path, clock,
                                            batch=100).forward_once())
    ids = await uplink.in_flight(2)  # both requests sent before either is answered
    uplink.waiting[ids[0]].set()
    await uplink.answered(1)
    assert await buffer.depth() == 400  # one answered: nothing leaves yet
    uplink.waiting[ids[1]].set()
    assert await sending
    assert await buffer.depth() == 200
    assert len(uplink.stored) == 200
    # each series in one request: 50 of each of the four, two series a request
    assert sorted(sorted({r.series for r in batch}) for _, batch in uplink.batches) == [
        ["a", "c"], ["b", "d"]]
    assert all(len(batch) == 100 for _, batch in uplink.batches)


async def test_every_series_reaches_the_service_in_order(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    buffer = await SqliteBuffer(tmp_path / "buffer.sqlite3", clock).open()
    try:
        # one series with a long backlog, others short: the long one spans requests
        await buffer.add(readings("long", 900) + readings("b", 30) + readings("c", 20))
        await buffer.add(readings("long", 100, start=900) + readings("b", 5, start=30))
        uplink = RecordingUplink()
        sender = forwarder(buffer, uplink, tmp_path, clock, batch=150, lanes=3)
        while await sender.forward_once():
            pass
    finally:
        await buffer.close()
    received: dict[str, list[float]] = {}
    for _, batch in uplink.batches:
        assert len(batch) <= 150
        for r in batch:
            received.setdefault(r.series, []).append(r.value)
    assert received == {"long": [float(i) for i in range(1000)],
                        "b": [float(i) for i in range(35)], "c": [float(i) for i in range(20)]}


async def test_a_stop_before_every_lane_is_answered_keeps_the_readings_and_the_ids(
        tmp_path: Path) -> None:
    clock = FakeClock(T0)
    buffer = InMemoryBuffer(clock)
    await buffer.add(readings("a", 10) + readings("b", 10))
    uplink = GatedUplink()
    sender = forwarder(buffer, uplink, tmp_path, clock, batch=10)
    sending = asyncio.create_task(sender.forward_once())
    ids = await uplink.in_flight(2)
    uplink.waiting[ids[0]].set()
    await uplink.answered(1)
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    assert await buffer.depth() == 20  # the answered lane's readings too
    stored = dict(uplink.stored)
    uplink.gated = False
    assert await sender.forward_once()
    assert await buffer.depth() == 0
    assert sorted(batch_id for batch_id, _ in uplink.batches) == sorted([ids[0], *ids])
    assert len(uplink.stored) == 20
    assert all(uplink.stored[k] == v for k, v in stored.items())


def test_a_transaction_of_one_request_s_worth_is_one_request() -> None:
    batch = readings("a", 60) + readings("b", 40)
    assert lanes_of(batch, 4, 100) == [[batch]]


def test_a_series_longer_than_a_request_goes_in_one_lane_in_requests_of_equal_size() -> None:
    columns = ReadingColumns.of(readings("long", 250) + readings("b", 10))
    lanes = lanes_of(columns, 2, 100)
    sizes = sorted([len(request) for request in lane] for lane in lanes)
    assert sizes == [[10], [84, 84, 82]]
    long_lane = next(lane for lane in lanes if len(lane) == 3)
    assert [r.value for request in long_lane for r in request] == [float(i) for i in range(250)]
    assert all(isinstance(request, ReadingColumns) for lane in lanes for request in lane)


class RejectingUplink(RecordingUplink):
    """Refuses every other reading of each request, as the service refuses bad data."""

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        self.batches.append((batch_id, list(readings)))
        rejected = [Rejection(index=i, series=r.series, reason=RejectReason.OUT_OF_RANGE,
                              detail="x" * 200) for i, r in enumerate(readings) if i % 2]
        return Delivered(IngestResult(batch_id=batch_id,
                                      accepted=len(readings) - len(rejected),
                                      rejected=rejected))


async def test_lanes_refused_at_once_each_leave_whole_lines_in_the_dead_letter_file(
        tmp_path: Path) -> None:
    clock = FakeClock(T0)
    buffer = InMemoryBuffer(clock)
    await buffer.add(readings("a", 2000) + readings("b", 2000))
    assert await forwarder(buffer, RejectingUplink(), tmp_path, clock,
                           batch=2000).forward_once()
    lines = (tmp_path / "dead.jsonl").read_text().splitlines()
    refused = [json.loads(line)["reading"] for line in lines]
    assert sorted((r["series"], r["value"]) for r in refused) == sorted(
        (s, float(i)) for s in "ab" for i in range(1, 2000, 2))
