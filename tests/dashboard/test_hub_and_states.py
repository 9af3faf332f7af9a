"""The hub's ring and cursors, and states judged from latest values: no servers needed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from services.dashboard.state import (
    Latest,
    LatestValueStates,
    PlannedFirst,
    State,
    Status,
    Statuses,
    Viewer,
    WorstOf,
)
from services.live.hub import LiveHub
from services.live.stream import MAX_VALUES_PER_MESSAGE, Audience, frame

NOW = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
BAND = "glomfjord/smelter/hx1/secondary/supply_temp"  # band 14–22 °C


def test_a_reader_gets_every_event_after_its_cursor_in_order() -> None:
    hub = LiveHub(capacity=100)
    hub.publish_many("value", [("a", b"1"), ("b", b"2")])
    cursor, gap = hub.cursor_from(hub.event_id(1))
    events, cursor, read_gap = hub.read(cursor)
    assert gap is None
    assert read_gap is None
    assert [e.data for e in events] == [b"2"]
    assert cursor == hub.last_seq == 2


def test_a_reader_overrun_by_the_ring_is_told_of_the_gap() -> None:
    hub = LiveHub(capacity=10)
    hub.publish_many("value", [("a", str(i).encode()) for i in range(25)])
    cursor, gap = hub.cursor_from(hub.event_id(3))
    assert gap is not None
    assert "more than 10" in gap.reason
    events, _, _ = hub.read(cursor)
    assert [e.data for e in events] == [str(i).encode() for i in range(15, 25)]


def test_values_go_out_together_and_other_kinds_alone_filtered_by_audience() -> None:
    hub = LiveHub()
    hub.publish_many("value", [("mine", b'{"v":1}'), ("theirs", b'{"v":2}'),
                               ("mine", b'{"v":3}')])
    hub.publish("alert", b'{"id":"a1"}', orgs=frozenset({"farm"}))
    hub.publish("alert", b'{"id":"a2"}', orgs=frozenset({"smelter"}))
    events, _, _ = hub.read(0)
    out = frame(hub, events, Audience("farm", frozenset({"mine"})))
    assert out == [
        f"id: {hub.boot}:3\nevent: values\ndata: ".encode() + b'{"values":[{"v":1},{"v":3}]}\n\n',
        f"id: {hub.boot}:4\nevent: alert\ndata: ".encode() + b'{"id":"a1"}\n\n']


def test_stored_readings_go_out_as_json_objects_a_bounded_number_a_message() -> None:
    hub = LiveHub()
    times = [NOW + timedelta(seconds=s) for s in range(3)]
    readings = [(f"s{i % 7}", times[i % 3], i / 8, "good" if i % 5 else "bad")
                for i in range(12_000)]
    keys, ts, values, quality = (list(column) for column in zip(*readings, strict=True))
    hub.publish_values("value", keys[:7000], ts[:7000], values[:7000], quality[:7000])
    hub.publish("alert", b'{"id":"a1"}', orgs=frozenset({"farm"}))
    hub.publish_values("value", keys[7000:], ts[7000:], values[7000:], quality[7000:])
    items, _, _ = hub.read_spans(0, limit=20_000)
    chosen = {"s0", "s1", "s2", "s3", "s4", "s5"}  # not s6: the stream filters
    out = frame(hub, items, Audience("farm", frozenset(chosen)))
    got: list[dict[str, object]] = []
    for raw in out:
        head, _, data = raw.partition(b"data: ")
        if b"event: values" in head:
            message = orjson.loads(data)
            assert 0 < len(message["values"]) <= MAX_VALUES_PER_MESSAGE
            got += message["values"]
            # The id is the last value's: the seq of the reading, one after the alert.
            last = got[-1]
            seq = next(i for i in range(len(readings), 0, -1)
                       if (keys[i - 1], values[i - 1]) == (last["series"], last["value"]))
            assert head.startswith(f"id: {hub.boot}:{seq + (seq > 7000)}\n".encode())
    wanted = [{"series": k, "ts": t.isoformat(), "value": v, "quality": q}
              for k, t, v, q in readings if k in chosen]
    assert got == wanted
    assert len(out) == 4  # 5,000 values, the other 1,000 before the alert, the alert, the rest
    first = out[0].partition(b"data: ")[2]
    # Byte for byte what encoding the readings as objects gives.
    assert first.startswith(orjson.dumps({"values": [
        {"series": k, "ts": t, "value": v, "quality": q}
        for k, t, v, q in readings[:20] if k in chosen]})[:-2])


async def test_a_waiting_reader_wakes_when_an_event_arrives() -> None:
    hub = LiveHub()
    waiting = asyncio.create_task(hub.wait(0, timeout_s=30))
    await asyncio.sleep(0)  # let it start waiting
    hub.publish("value", b"{}", series="a")
    assert await asyncio.wait_for(waiting, 5) is True
    hub.close()
    assert await hub.wait(hub.last_seq, timeout_s=30) is False


@pytest.fixture(scope="module")
def index() -> ClusterIndex:
    return ClusterIndex(load_cluster(EXAMPLE_CLUSTER))


@pytest.mark.parametrize(("value", "age_s", "state"), [
    (18.0, 5, State.NORMAL),      # middle of the 14–22 band
    (14.5, 5, State.WARNING),     # inside the band's outer 10 %
    (21.5, 5, State.WARNING),
    (13.9, 5, State.ALARM),       # below the band
    (25.0, 5, State.ALARM),       # above it
    (18.0, 600, State.UNKNOWN),   # too old to judge
])
async def test_an_exchange_is_judged_by_its_supply_band(
        index: ClusterIndex, value: float, age_s: float, state: State) -> None:
    latest = {BAND: Latest(NOW - timedelta(seconds=age_s), value)}
    got = await LatestValueStates(index).statuses(viewer(index, "fjordsmolt"), latest, NOW)
    assert got.exchanges["glomfjord-smolt"].state == state
    assert got.assets["glomfjord/smelter/hx1"].state == state


async def test_a_state_never_uses_a_series_the_caller_cannot_see(index: ClusterIndex) -> None:
    latest = {BAND: Latest(NOW, 30.0)}
    got = await LatestValueStates(index).statuses(viewer(index, "mo-greenhouse"), latest, NOW)
    assert got.exchanges["glomfjord-smolt"].state == State.UNKNOWN


def viewer(index: ClusterIndex, org: str) -> Viewer:
    return Viewer(org, index.visible_series(org),
                  frozenset(e.id for e in index.exchanges_of(org)))


async def test_an_unmeasured_pipe_carries_what_its_feeder_carries(index: ClusterIndex) -> None:
    latest = {BAND: Latest(NOW, 13.0)}
    got = await LatestValueStates(index).statuses(viewer(index, "fjordsmolt"), latest, NOW)
    assert got.assets["glomfjord/pipeline/p1"].state == State.ALARM
    assert "upstream" in got.assets["glomfjord/pipeline/p1"].reason


class _Planned:
    async def statuses(self, viewer: Viewer, latest: object, now: datetime) -> Statuses:
        return Statuses(exchanges={"glomfjord-smolt": Status(State.PLANNED_OUTAGE, "stop")})


async def test_providers_combine_and_the_state_needing_attention_wins(
        index: ClusterIndex) -> None:
    latest = {BAND: Latest(NOW, 13.0)}
    farm = viewer(index, "fjordsmolt")
    both = WorstOf([LatestValueStates(index), _Planned()])
    got = await both.statuses(farm, latest, NOW)
    assert got.exchanges["glomfjord-smolt"].state == State.ALARM
    # An announced stop is expected to leave the band: it is shown as planned, not alarm.
    planned = await PlannedFirst(_Planned(), LatestValueStates(index)).statuses(
        farm, latest, NOW)
    assert planned.exchanges["glomfjord-smolt"].state == State.PLANNED_OUTAGE
