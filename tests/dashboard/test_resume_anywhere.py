"""A stream resumed with ``Last-Event-ID`` on another replica's hub: every event once, none
lost, however the replicas' events interleaved. Hubs linked as `services.live.fanout` links
them, with the delivery between them held and released at random (no servers needed)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from services.live.hub import Event, Gap, LiveHub

TS = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass
class Replicas:
    """Hubs whose shared events travel through per-pair queues, released one at a time."""

    hubs: list[LiveHub]
    queues: dict[tuple[int, int], list[tuple[str, object]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, hub in enumerate(self.hubs):
            hub.forward = lambda e, i=i: self._send(i, ("event", e))
            hub.forward_values = lambda first, k, *_, i=i: self._send(i, ("values", (first, k)))

    def _send(self, sender: int, item: tuple[str, object]) -> None:
        for j in range(len(self.hubs)):
            if j != sender:
                self.queues.setdefault((sender, j), []).append(item)

    def deliver_one(self, rng: random.Random) -> bool:
        busy = [pair for pair, items in self.queues.items() if items]
        if not busy:
            return False
        sender, receiver = rng.choice(busy)
        kind, item = self.queues[(sender, receiver)].pop(0)  # in the sender's order
        origin = self.hubs[sender].boot
        hub = self.hubs[receiver]
        if kind == "values":
            first, keys = item  # type: ignore[misc]
            hub.publish_values("value", keys, [TS] * len(keys), [1.0] * len(keys),
                               ["good"] * len(keys), origin=(origin, first))
        else:
            assert isinstance(item, Event)
            assert isinstance(item.data, bytes)
            hub.publish(item.kind, item.data, origin=(origin, item.seq))
        return True

    def deliver_all(self, rng: random.Random) -> None:
        while self.deliver_one(rng):
            pass


def name_of(event: Event) -> str:
    return event.data[0] if isinstance(event.data, tuple) else event.data.decode()


@dataclass
class Reader:
    """A stream client: reads on one hub, keeps the last id it was given, moves on."""

    last_id: str | None = None
    got: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def read_on(self, hub: LiveHub, rng: random.Random, whole: bool = False) -> None:
        start, gap, floor = hub.start_from(self.last_id)
        if gap is not None:
            self.gaps.append(gap)
        events, cursor, gap = hub.read(start, floor=floor)
        if gap is not None:
            self.gaps.append(gap)
        # The connection drops after a random message: the id is that message's.
        kept = len(events) if whole else rng.randint(0, len(events))
        self.got += [name_of(e) for e in events[:kept]]
        if kept < len(events):
            self.last_id = hub.event_id(events[kept - 1].seq if kept else start, floor)
        else:
            self.last_id = hub.event_id(cursor, floor)


def publish_some(replicas: Replicas, rng: random.Random, counter: list[int]) -> None:
    i = rng.randrange(len(replicas.hubs))
    hub = replicas.hubs[i]
    counter[0] += 1
    if rng.random() < 0.7:
        n = rng.randint(1, 5)
        keys = [f"r{i}-{counter[0]}-{k}" for k in range(n)]
        hub.publish_values("value", keys, [TS] * n, [1.0] * n, ["good"] * n)
    else:
        hub.publish("alert", f"a{i}-{counter[0]}".encode())


@pytest.mark.parametrize("seed", range(60))
def test_a_reader_moving_between_replicas_gets_every_event_once(seed: int) -> None:
    rng = random.Random(seed)
    replicas = Replicas([LiveHub(capacity=10_000) for _ in range(rng.choice([2, 3]))])
    counter = [0]
    reader = Reader()
    published: list[str] = []
    for hub in replicas.hubs:  # the reader starts live: what exists before is not owed
        hub.publish("hello-world", b"before")
    replicas.deliver_all(rng)
    reader.read_on(replicas.hubs[0], rng)
    reader.got.clear()
    for _ in range(40):
        for _ in range(rng.randint(0, 4)):
            before = {h.boot: h.last_seq for h in replicas.hubs}
            publish_some(replicas, rng, counter)
            published += new_names(replicas, before)
        for _ in range(rng.randint(0, 6)):
            replicas.deliver_one(rng)
        reader.read_on(rng.choice(replicas.hubs), rng)
    replicas.deliver_all(rng)
    reader.read_on(rng.choice(replicas.hubs), rng, whole=True)

    assert reader.gaps == []
    assert len(reader.got) == len(set(reader.got)), "an event came twice"
    assert set(reader.got) == set(published)


def new_names(replicas: Replicas, before: dict[str, int]) -> list[str]:
    names: list[str] = []
    for hub in replicas.hubs:
        events, _, _ = hub.read(before[hub.boot])
        names += [name_of(e) for e in events]
    return names


def test_an_id_of_a_replica_never_heard_from_is_a_gap() -> None:
    a, b = LiveHub(), LiveHub()
    a.publish("alert", b"x")
    _, gap, _ = b.start_from(a.event_id(a.last_seq))
    assert gap is not None
    assert "earlier run" in gap.reason


def test_events_that_left_the_other_replicas_ring_are_a_gap() -> None:
    rng = random.Random(1)
    replicas = Replicas([LiveHub(capacity=10), LiveHub(capacity=10)])
    a, b = replicas.hubs
    a.publish("alert", b"first")
    replicas.deliver_all(rng)
    seen_id = a.event_id(a.last_seq)
    for n in range(30):
        a.publish("alert", f"a{n}".encode())
    replicas.deliver_all(rng)
    _, gap, _ = b.start_from(seen_id)
    assert gap is not None
    assert "missed" in gap.reason


def test_one_replica_keeps_its_ids_as_they_were() -> None:
    hub = LiveHub()
    hub.publish("alert", b"x")
    assert hub.event_id(hub.last_seq) == f"{hub.boot}:1"
