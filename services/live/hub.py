"""The live hub: a bounded ring of recent events with increasing ids, and waiting readers.

Writers (the ingest observer, later the alert engine) call ``publish`` from the event
loop; it never blocks and never awaits. Readers keep a cursor (the last id they saw) and
ask for everything after it, so a reader that reconnects with ``Last-Event-ID`` misses
nothing as long as the ring still holds its cursor; when it does not, ``read`` says so
and the reader must reload current values (``Gap``).

Event ids are ``<boot>:<seq>``: ``boot`` changes when the service restarts, so a cursor
from a previous run is recognised as a gap rather than silently misread. With other
replicas publishing into this hub (`services.live.fanout`) an id also carries, after a
comma each, ``<origin>:<seq>`` for every other replica heard from: where the reader is in
each replica's own numbering (`services.live.origins`), so another replica can resume it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from heatlink.aio import wait_event
from services.live.origins import Origins

_SEQ = re.compile(r"[0-9]{1,18}")
_ENTRY = re.compile(r"([0-9a-f]{1,32}):([0-9]{1,18})")
_MAX_ENTRIES = 64


ValueFields = tuple[str, datetime, float, str]
"""A stored reading as ingest hands it over: (series, ts, value, quality)."""


class Event(NamedTuple):
    """One event. ``series`` and ``orgs`` say who may receive it (``None``: no limit).

    ``kind`` is open: ``value`` today, ``alert`` and others as their parts are built.
    ``data`` is the event's JSON, encoded once by the writer and shared by every reader;
    for a stored reading it is the reading's fields, encoded by the reader that sends it
    (`services.live.stream.frame`): most readings are never streamed, and encoding each
    one at ingest cost the ingest path a tenth of its throughput. Stored readings are kept
    as the columns ingest handed over (`ValueBlock`); ``read`` makes their events.
    """

    seq: int
    kind: str
    data: bytes | ValueFields
    series: str | None = None
    orgs: frozenset[str] | None = None


class ValueBlock(NamedTuple):
    """The readings one ``publish_values`` appended, as the columns ingest handed over:
    every ring slot of their seqs holds this one block. Building an event per reading
    was a tenth of the service's CPU under ingest; a stream encodes a block's readings
    column by column (`services.live.stream.frame`), and `LiveHub.read` makes the events
    only for the readers that ask for events."""

    first_seq: int
    kind: str
    keys: Sequence[str]
    ts: Sequence[datetime]
    values: Sequence[float]
    quality: Sequence[str]

    def event(self, seq: int) -> Event:
        i = seq - self.first_seq
        key = self.keys[i]
        return Event(seq, self.kind, (key, self.ts[i], self.values[i], self.quality[i]), key)


class Span(NamedTuple):
    """Readings ``start`` … ``stop - 1`` of ``block`` (indexes into its columns), in order;
    the first has seq ``block.first_seq + start``."""

    block: ValueBlock
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class Gap:
    """The reader's cursor is older than the ring (or from another run): events were lost
    between ``after_seq`` and ``resumed_seq``; reload current values and carry on."""

    requested: str | None
    resumed_seq: int
    reason: str


def _vector(entries: Sequence[str]) -> dict[str, int]:
    """Per origin, the newest seq the entries say was seen (an origin may come twice)."""
    vector: dict[str, int] = {}
    for entry in entries:
        match = _ENTRY.fullmatch(entry)
        if match is not None:
            origin, seen = match.group(1), int(match.group(2))
            vector[origin] = max(seen, vector.get(origin, seen))
    return vector


class LiveHub:
    def __init__(self, capacity: int = 100_000, boot: str | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.boot = boot or secrets.token_hex(4)
        self._ring: list[Event | ValueBlock | None] = [None] * capacity
        self._last_seq = 0  # seq of the newest event; the first event gets 1
        self._changed = asyncio.Event()
        self._closed = False
        self.published_total = 0
        # Events first published here go to the other replicas through these
        # (`services.live.fanout`), each with its seq, which is its number everywhere.
        self.forward: Callable[[Event], None] | None = None
        self.forward_values: Callable[[int, Sequence[str], Sequence[datetime],
                                       Sequence[float], Sequence[str]], None] | None = None
        self.origins = Origins()

    # -- writers ---------------------------------------------------------------------------

    def publish(self, kind: str, data: bytes, *, series: str | None = None,
                orgs: frozenset[str] | None = None, share: bool = True,
                origin: tuple[str, int] | None = None, follows: int | None = None) -> int:
        """Append one event and wake the readers; returns its sequence number. ``share``:
        hand it to ``forward`` too (the other replicas). ``origin``: (boot, seq) of the
        replica that published it first; such an event is never shared again. ``follows``:
        that replica's seq of the event it shared before this one (`Origins.add`)."""
        self._last_seq += 1
        seq = self._last_seq
        event = Event(seq, kind, data, series, orgs)
        self._ring[seq % self.capacity] = event
        self.published_total += 1
        self._came_from(seq, 1, origin, follows)
        self._wake()
        if share and origin is None and self.forward is not None:
            self.forward(event)
        return seq

    def _came_from(self, first: int, count: int, origin: tuple[str, int] | None,
                   follows: int | None = None) -> None:
        boot, origin_first = origin if origin is not None else (self.boot, first)
        self.origins.add(first, count, boot, origin_first, follows)
        self.origins.forget_before(self._last_seq - self.capacity + 1)

    def publish_many(self, kind: str, items: Sequence[tuple[str | None, bytes]]) -> int:
        """Append many events of one kind (series, data) and wake readers once."""
        ring, capacity = self._ring, self.capacity
        seq = self._last_seq
        for series, data in items:
            seq += 1
            ring[seq % capacity] = Event(seq, kind, data, series, None)
        first = self._last_seq + 1
        self._last_seq = seq
        self.published_total += len(items)
        self._came_from(first, len(items), None)
        self._wake()
        return seq

    def publish_values(self, kind: str, keys: Sequence[str], ts: Sequence[datetime],
                       values: Sequence[float], quality: Sequence[str],
                       origin: tuple[str, int] | None = None, follows: int | None = None
                       ) -> int:
        """Append the readings, their fields not yet encoded, as one `ValueBlock` (an
        event each, a seq each), and wake readers once. Readings stored here (``origin``
        None) go to ``forward_values`` too."""
        count = len(keys)
        if not len(ts) == len(values) == len(quality) == count:
            raise ValueError("keys, ts, values and quality must be as long as each other")
        first = self._last_seq + 1
        seq = self._last_seq + count
        # Copies: the caller may reuse its lists once this returns (the observer contract).
        keys, ts, values, quality = list(keys), list(ts), list(values), list(quality)
        if count:
            self._fill(first, count, ValueBlock(first, kind, keys, ts, values, quality))
        self.published_total += count
        self._last_seq = seq
        if seq >= first:
            self._came_from(first, seq - first + 1, origin, follows)
        self._wake()
        if origin is None and self.forward_values is not None and seq >= first:
            self.forward_values(first, keys, ts, values, quality)
        return seq

    def _fill(self, first: int, count: int, block: ValueBlock) -> None:
        """Put ``block`` in the ring slots of seqs ``first`` … ``first + count - 1``: slice
        assignments, not a Python step per reading."""
        ring, capacity = self._ring, self.capacity
        if count >= capacity:  # only its newest ``capacity`` readings stay readable
            ring[:] = [block] * capacity
            return
        start = first % capacity
        stop = start + count
        if stop <= capacity:
            ring[start:stop] = [block] * count
        else:
            ring[start:] = [block] * (capacity - start)
            ring[:stop - capacity] = [block] * (stop - capacity)

    def close(self) -> None:
        """Wake every reader for the last time; ``wait`` then returns False."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        # Readers wait on the event they saw; a fresh one is armed for the next change.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- readers ---------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def closed(self) -> bool:
        return self._closed

    def event_id(self, seq: int, floor: dict[str, int] | None = None) -> str:
        """The id of the position after local ``seq``; with other replicas heard from, also
        where that is in their numbering (at least ``floor``, what a resumed reader saw)."""
        own = f"{self.boot}:{seq}"
        if not floor and self.origins.latest.keys() <= {self.boot}:
            return own  # nothing from other replicas: ids as they always were
        marks = self.origins.position(seq)
        for origin, seen in (floor or {}).items():
            if seen > marks.get(origin, -1):
                marks[origin] = seen
        if marks.get(self.boot, -1) <= seq:
            # This hub's own events up to ``seq`` are implied by the first entry; a floor
            # from another replica's id may say the reader has more of them.
            marks.pop(self.boot, None)
        return ",".join([own, *(f"{o}:{n}" for o, n in sorted(marks.items()))])

    def cursor_from(self, last_event_id: str | None) -> tuple[int, Gap | None]:
        """Where a reader with ``last_event_id`` starts (the seq it has seen) and the gap,
        if any. Without an id a reader starts at the newest event (live from now)."""
        cursor, gap, _ = self.start_from(last_event_id)
        return cursor, gap

    def start_from(self, last_event_id: str | None
                   ) -> tuple[int, Gap | None, dict[str, int] | None]:
        """As ``cursor_from``, and for an id of another replica the floor: per origin, the
        seq up to which the reader has its events (`read` skips those)."""
        if not last_event_id:
            return self._last_seq, None, None
        first, _, others = last_event_id.partition(",")
        boot, _, seq_text = first.partition(":")
        if boot != self.boot:
            return self._from_another_replica(last_event_id)
        cursor, gap = self._own(last_event_id, seq_text)
        # The other entries still count: a reader resumed here from another replica may
        # have had other replicas' events that reach this hub only after ``cursor``.
        floor = _vector(others.split(",")[:_MAX_ENTRIES] if others else [])
        return cursor, gap, floor or None

    def _from_another_replica(self, last_event_id: str
                              ) -> tuple[int, Gap | None, dict[str, int] | None]:
        entries = last_event_id.split(",")
        parsed = [_ENTRY.fullmatch(e) for e in entries[:_MAX_ENTRIES + 1]]
        known = self.origins.latest
        if (len(entries) > _MAX_ENTRIES or not all(parsed) or parsed[0] is None
                or parsed[0].group(1) not in known):
            return self._last_seq, Gap(last_event_id, self._last_seq + 1,
                                       "the id is from an earlier run of the service"), None
        vector = _vector(entries)
        own_seen = vector.get(self.boot)
        if own_seen is not None and own_seen > self._last_seq:
            return self._last_seq, Gap(last_event_id, self._last_seq + 1,
                                       "the id is ahead of this service"), None
        resume = self.origins.resume(vector, self._last_seq)
        cursor, gap = self._check(resume.after, last_event_id)
        if gap is None and resume.missed is not None:
            gap = Gap(last_event_id, resume.after + 1, resume.missed)
        return cursor, gap, resume.floor

    def _own(self, last_event_id: str, seq_text: str) -> tuple[int, Gap | None]:
        # ASCII digits only: str.isdigit() also takes '²' (which int() refuses) and '٣'.
        if not _SEQ.fullmatch(seq_text):
            return self._last_seq, Gap(last_event_id, self._last_seq + 1,
                                       "the id is not one this service sent")
        seq = int(seq_text)
        if seq > self._last_seq:
            return self._last_seq, Gap(last_event_id, self._last_seq + 1,
                                       "the id is ahead of this service")
        return self._check(seq, last_event_id)

    def _check(self, seq: int, requested: str | None) -> tuple[int, Gap | None]:
        oldest = max(1, self._last_seq - self.capacity + 1)
        if seq + 1 < oldest:
            return oldest - 1, Gap(requested, oldest,
                                   f"more than {self.capacity} events were missed")
        return seq, None

    def read(self, after_seq: int, limit: int = 10_000, floor: dict[str, int] | None = None
             ) -> tuple[list[Event], int, Gap | None]:
        """Events after ``after_seq`` (at most ``limit``), the new cursor, and a gap if the
        ring overran the reader since its last read. ``floor``: leave out the events it
        says the reader has (a reader resumed from another replica's id)."""
        items, end, gap = self.read_spans(after_seq, limit, floor)
        events: list[Event] = []
        for item in items:
            if isinstance(item, Span):
                first = item.block.first_seq
                events += map(item.block.event, range(first + item.start, first + item.stop))
            else:
                events.append(item)
        return events, end, gap

    def read_spans(self, after_seq: int, limit: int = 10_000,
                   floor: dict[str, int] | None = None
                   ) -> tuple[list[Event | Span], int, Gap | None]:
        """As ``read``, with the readings of each ``publish_values`` that are read as one
        ``Span`` of its block instead of an event each."""
        after_seq, gap = self._check(after_seq, self.event_id(after_seq))
        end = min(self._last_seq, after_seq + limit)
        ring, capacity = self._ring, self.capacity
        seen = self.origins.skip(after_seq, end, floor) if floor else []
        items: list[Event | Span] = []
        seq = after_seq + 1
        while seq <= end:
            item = ring[seq % capacity]
            if isinstance(item, ValueBlock):
                last = min(end, item.first_seq + len(item.keys) - 1)
                items += _unseen(item, seq, last, seen)
                seq = last + 1
                continue
            if item is not None and not any(lo <= seq <= hi for lo, hi in seen):
                items.append(item)
            seq += 1
        return items, end, gap

    async def wait(self, after_seq: int, timeout_s: float) -> bool:
        """Until an event after ``after_seq`` exists (True), or the timeout passes (True,
        for a keep-alive), or the hub closes (False)."""
        changed = self._changed
        if self._closed:
            return False
        if self._last_seq > after_seq:
            return True
        await wait_event(changed, timeout_s)
        return not self._closed


def _unseen(block: ValueBlock, first: int, last: int, seen: list[tuple[int, int]]
            ) -> list[Span]:
    """The spans of ``block``'s seqs ``first`` … ``last`` outside the ``seen`` ranges."""
    spans = [(first, last)]
    for lo, hi in seen:
        if hi < first or lo > last:
            continue
        cut: list[tuple[int, int]] = []
        for a, b in spans:
            if a < lo:
                cut.append((a, min(b, lo - 1)))
            if b > hi:
                cut.append((max(a, hi + 1), b))
        spans = cut
    base = block.first_seq
    return [Span(block, a - base, b - base + 1) for a, b in spans]
