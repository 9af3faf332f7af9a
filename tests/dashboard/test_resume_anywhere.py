"""A stream resumed with ``Last-Event-ID`` on another replica's hub: every event once, none
lost, however the replicas' events interleaved, and a gap wherever events did not reach
the replica it moved to. Hubs linked by `services.live.fanout`'s own messages, with the
delivery between them held and released at random (no servers needed)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import asyncpg
import pytest

from services.live.fanout import LiveFanout
from services.live.hub import Event, Gap, LiveHub

TS = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass
class Replicas:
    """Hubs linked by `LiveFanout` as in production (its messages, encoded and decoded),
    the delivery between each pair held in a queue and released one message at a time.
    A replica that is not listening loses what is sent meanwhile, as with NOTIFY."""

    hubs: list[LiveHub]
    queues: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    fanouts: list[LiveFanout] = field(default_factory=list)
    deaf: set[int] = field(default_factory=set)  # replicas whose listener is away

    def __post_init__(self) -> None:
        for hub in self.hubs:
            fanout = LiveFanout(hub, cast(asyncpg.Pool, None), "")
            hub.forward = fanout.forward
            hub.forward_values = fanout.values_published
            self.fanouts.append(fanout)

    def send(self) -> None:
        """Every replica's sender runs once: its messages go to those listening."""
        for i, fanout in enumerate(self.fanouts):
            payloads = fanout.payloads()
            for j in range(len(self.hubs)):
                if j != i and j not in self.deaf:
                    self.queues.setdefault((i, j), []).extend(payloads)

    def drop(self, sender: int) -> None:
        """The sender found nobody listening (or its send failed)."""
        self.fanouts[sender].drop_pending()

    def listen_again(self, receiver: int) -> None:
        self.deaf.discard(receiver)
        self.fanouts[receiver].listening_again()

    def deliver_one(self, rng: random.Random) -> bool:
        self.send()
        busy = [pair for pair, items in self.queues.items() if items]
        if not busy:
            return False
        sender, receiver = rng.choice(busy)
        payload = self.queues[(sender, receiver)].pop(0)  # in the sender's order
        self.fanouts[receiver].received(payload)
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
    gap_events: int = 0  # ``gap`` events in the stream: the replica knew it lost some

    @property
    def told_of_a_loss(self) -> bool:
        return bool(self.gaps) or self.gap_events > 0

    def read_on(self, hub: LiveHub, rng: random.Random, whole: bool = False) -> None:
        start, gap, floor = hub.start_from(self.last_id)
        if gap is not None:
            self.gaps.append(gap)
        events, cursor, gap = hub.read(start, floor=floor)
        if gap is not None:
            self.gaps.append(gap)
        # The connection drops after a random message: the id is that message's.
        kept = len(events) if whole else rng.randint(0, len(events))
        self.got += [name_of(e) for e in events[:kept] if e.kind != "gap"]
        self.gap_events += sum(e.kind == "gap" for e in events[:kept])
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


def roam(seed: int, faults: bool) -> tuple[Reader, list[str]]:
    """Replicas publish and deliver at random while a reader moves between them, reading
    a random part each time; with ``faults``, listeners go away and come back and sends
    fail. Returns the reader and every event published meanwhile."""
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
        if faults:
            fault = rng.random()
            if fault < 0.08:
                replicas.deaf.add(rng.randrange(len(replicas.hubs)))
            elif fault < 0.16 and replicas.deaf:
                replicas.listen_again(rng.choice(sorted(replicas.deaf)))
            elif fault < 0.2:
                replicas.drop(rng.randrange(len(replicas.hubs)))
        for _ in range(rng.randint(0, 6)):
            replicas.deliver_one(rng)
        reader.read_on(rng.choice(replicas.hubs), rng)
    for deaf in sorted(replicas.deaf):  # a listener away comes back (and says so) in the end
        replicas.listen_again(deaf)
    replicas.deliver_all(rng)
    reader.read_on(rng.choice(replicas.hubs), rng, whole=True)
    return reader, published


@pytest.mark.parametrize("seed", range(60))
def test_a_reader_moving_between_replicas_gets_every_event_once(seed: int) -> None:
    reader, published = roam(seed, faults=False)

    assert not reader.told_of_a_loss
    assert len(reader.got) == len(set(reader.got)), "an event came twice"
    assert set(reader.got) == set(published)


def new_names(replicas: Replicas, before: dict[str, int]) -> list[str]:
    names: list[str] = []
    for hub in replicas.hubs:
        events, _, _ = hub.read(before[hub.boot])
        names += [name_of(e) for e in events if e.kind != "gap"]
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


def moved_after(hub: LiveHub, count: int) -> Reader:
    """A reader that had the first ``count`` of ``hub``'s events and then moved on."""
    events, _, _ = hub.read(0)
    return Reader(last_id=hub.event_id(events[count - 1].seq))


def test_an_alert_and_readings_published_together_stay_in_their_order_on_another_replica(
        ) -> None:
    rng = random.Random(2)
    replicas = Replicas([LiveHub(), LiveHub()])
    a, b = replicas.hubs
    a.publish("alert", b"alert")
    a.publish_values("value", ["r1", "r2", "r3"], [TS] * 3, [1.0] * 3, ["good"] * 3)
    replicas.deliver_all(rng)  # one sender run carries both

    reader = moved_after(a, 2)  # the alert and r1, on the replica that published them
    reader.read_on(b, rng, whole=True)

    assert not reader.told_of_a_loss
    assert reader.got == ["r2", "r3"]


def test_events_sent_while_a_replica_was_not_listening_are_a_gap_for_a_reader_moving_there(
        ) -> None:
    rng = random.Random(3)
    replicas = Replicas([LiveHub(), LiveHub()])
    a, b = replicas.hubs
    a.publish("alert", b"one")
    replicas.deliver_all(rng)
    replicas.deaf.add(1)
    a.publish("alert", b"two")  # never reaches b
    replicas.send()
    replicas.listen_again(1)
    a.publish("alert", b"three")
    replicas.deliver_all(rng)

    behind = moved_after(a, 1)  # had "one" only
    behind.read_on(b, rng, whole=True)
    assert behind.gaps, "a reader that lacks 'two' was not told"
    assert any("never reached" in gap.reason for gap in behind.gaps)

    level = moved_after(a, 2)  # had "two" on a already: lacks nothing b could give
    level.read_on(b, rng, whole=True)
    assert level.gaps == []
    assert level.got == ["three"]


def test_events_a_replica_kept_to_itself_are_no_gap_elsewhere() -> None:
    rng = random.Random(4)
    replicas = Replicas([LiveHub(), LiveHub()])
    a, b = replicas.hubs
    a.publish("alert", b"one")
    a.publish("gap", b"a's own listener was away", share=False)  # a hole in a's numbering
    a.publish("alert", b"two")
    replicas.deliver_all(rng)

    reader = moved_after(a, 1)
    reader.read_on(b, rng, whole=True)

    assert not reader.told_of_a_loss
    assert reader.got == ["two"]


def test_a_failed_send_is_a_gap_in_the_streams_of_the_replica_it_did_not_reach() -> None:
    rng = random.Random(5)
    replicas = Replicas([LiveHub(), LiveHub()])
    a, b = replicas.hubs
    a.publish("alert", b"one")
    replicas.deliver_all(rng)
    live = Reader()
    live.read_on(b, rng, whole=True)
    a.publish("alert", b"lost")
    replicas.drop(0)  # the transaction of NOTIFYs failed
    a.publish("alert", b"after")
    replicas.deliver_all(rng)

    live.read_on(b, rng, whole=True)

    assert live.gap_events == 1
    assert live.got == ["after"]


@pytest.mark.parametrize("seed", range(40))
def test_a_reader_moving_between_replicas_that_lose_events_is_told_of_every_loss(
        seed: int) -> None:
    """Whatever the reader lacks in the end, it was told of a loss; nothing comes twice."""
    reader, published = roam(seed, faults=True)

    assert len(reader.got) == len(set(reader.got)), "an event came twice"
    assert set(reader.got) <= set(published)
    if set(reader.got) != set(published):
        assert reader.told_of_a_loss, "events were lost without a gap"
