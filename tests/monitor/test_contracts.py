"""Contract suites of the monitor's two narrow interfaces, run against every
implementation (fakes included): ingest's `ReadingsObserver` (the monitor's queue, the live
hub, accounting) and the `FindingSink` fakes (the real one: tests/alerts)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.findings import Finding, FindingSink
from heatlink.testing import FakeClock
from services.accounting.runtime import AccountingRuntime
from services.ingest.observer import ReadingsObserver
from services.live.hub import LiveHub
from services.live.observer import HubObserver
from services.monitor.runtime import Batch, QueueObserver
from services.monitor.testing import FlakyFindingSink, RecordingFindingSink, RecordingObserver

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


def finding(state: str, minutes: int = 0) -> Finding:
    at = T0 + timedelta(minutes=minutes)
    return Finding(rule_id="tank1-band", rule_version=1, kind="band",
                   series="glomfjord/smoltfarm/tank1/temp", owner="fjordsmolt",
                   severity="alarm", state=state, previous_state="ok", ts=at, since_ts=at,
                   detected_at=at, late=False, value=17.0, slope_per_h=None,
                   predicted_time_to_limit_s=None)


def _queue_observer() -> ReadingsObserver:
    return QueueObserver(asyncio.Queue[Batch]())


def _hub_observer() -> ReadingsObserver:
    return HubObserver(LiveHub())


def _accounting() -> ReadingsObserver:
    # Told of readings before it runs: it only notes which hours to recompute.
    return AccountingRuntime(None, ClusterIndex(load_cluster(EXAMPLE_CLUSTER)), FakeClock(T0),
                             timescaledb=False)


OBSERVERS: list[Callable[[], ReadingsObserver]] = [_queue_observer, RecordingObserver,
                                                   _hub_observer, _accounting]
SINKS: list[Callable[[], FindingSink]] = [RecordingFindingSink,
                                          lambda: FlakyFindingSink(failures=0)]


@pytest.mark.parametrize("make", OBSERVERS)
async def test_an_observer_returns_at_once_and_keeps_no_reference(
        make: Callable[[], ReadingsObserver]) -> None:
    observer = make()
    keys, ts, values, quality = ["a/b"], [T0], [1.0], ["good"]
    assert observer.readings_stored(keys, ts, values, quality) is None
    keys.append("changed/after")  # ingest may reuse its lists once the call returned
    values[0] = 99.0
    if isinstance(observer, QueueObserver):
        queued = observer._queue.get_nowait()
        assert queued == (["a/b"], [T0], [1.0], ["good"])
    elif isinstance(observer, RecordingObserver):
        assert observer.calls == [(["a/b"], [T0], [1.0], ["good"])]
    elif isinstance(observer, HubObserver):
        events, _, _ = observer.hub.read(0)
        # The hub keeps the reading's fields (the reader encodes them): copies, not the
        # lists ingest reuses.
        assert [e.data for e in events] == [("a/b", T0, 1.0, "good")]


@pytest.mark.parametrize("make", SINKS)
async def test_a_sink_takes_a_finding_handed_over_twice_once(
        make: Callable[[], FindingSink]) -> None:
    sink = make()
    first, second = finding("high"), finding("ok", minutes=5)
    await sink.findings([first])
    await sink.findings([first, second])  # the monitor re-offers after a failed hand-over
    assert isinstance(sink, RecordingFindingSink)
    assert sink.items == [first, second]


async def test_a_flaky_sink_raises_so_the_monitor_keeps_the_findings() -> None:
    sink = FlakyFindingSink(failures=1)
    with pytest.raises(RuntimeError):
        await sink.findings([finding("high")])
    await sink.findings([finding("high")])
    assert [f.state for f in sink.items] == ["high"]
