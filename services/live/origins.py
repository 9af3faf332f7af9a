"""Which replica each event in a hub came from, so a stream resumes on any replica.

Every replica's hub numbers its events in its own order (`LiveHub` seq), and the events
of the other replicas arrive interleaved with its own in an order no other hub shares. A
position that means the same on every replica is therefore a vector: per origin (the boot
id of the hub that published the event first), the newest of that origin's own sequence
numbers seen. Each origin's events reach every hub in that origin's order (NOTIFY is
delivered in commit order), so "everything of origin o up to n" is a well-defined set on
every replica.

An origin's numbering has holes: events it kept to itself, and events it meant to share
that never came (sent while this replica was not listening, or lost with a failed send).
Each run says which event of its origin's shared chain it follows (``follows``), so a hole
before a run loses something only when ``follows`` is inside it.

Kept per published run, not per event: a segment says that local seqs
``start … start+count-1`` are origin ``origin``'s ``origin_start …``; consecutive events of
one origin extend the last segment, so a batch of readings costs one comparison.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Segment:
    start: int  # local seq of the first event
    count: int
    origin: str
    origin_start: int  # the origin's own seq of the first event
    # The origin's seq of the event it meant to share just before this run (None: unknown,
    # taken as nothing missing); a hole up to it was lost on the way here.
    follows: int | None = None

    @property
    def end(self) -> int:
        return self.start + self.count - 1

    @property
    def origin_end(self) -> int:
        return self.origin_start + self.count - 1


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reader from another replica starts here: after local seq ``after``,
    skipping what ``floor`` says it has seen; ``missed`` names a loss, if any."""

    after: int
    floor: dict[str, int]
    missed: str | None


class Origins:
    def __init__(self) -> None:
        self._segments: deque[Segment] = deque()  # every segment, in local order
        self._by_origin: dict[str, deque[Segment]] = {}
        self.latest: dict[str, int] = {}  # origin -> newest origin seq known here
        self._dropped: dict[str, int] = {}  # origin -> newest origin seq out of the ring

    def add(self, start: int, count: int, origin: str, origin_start: int,
            follows: int | None = None) -> None:
        last = self._segments[-1] if self._segments else None
        if (last is not None and last.origin == origin and last.end + 1 == start
                and last.origin_end + 1 == origin_start
                and (follows is None or follows == last.origin_end)):
            last.count += count
        else:
            segment = Segment(start, count, origin, origin_start, follows)
            self._segments.append(segment)
            self._by_origin.setdefault(origin, deque()).append(segment)
        self.latest[origin] = origin_start + count - 1

    def forget_before(self, oldest: int) -> None:
        """Local seqs before ``oldest`` have left the ring."""
        segments = self._segments
        while segments and segments[0].end < oldest:
            segment = segments.popleft()
            self._by_origin[segment.origin].popleft()
            self._dropped[segment.origin] = segment.origin_end

    def position(self, seq: int) -> dict[str, int]:
        """Per origin, the newest of its seqs at or before local ``seq``."""
        out: dict[str, int] = {}
        for origin, segments in self._by_origin.items():
            mark = self._dropped.get(origin)
            for segment in reversed(segments):
                if segment.start <= seq:
                    mark = segment.origin_start + min(seq, segment.end) - segment.start
                    break
            if mark is not None:
                out[origin] = mark
        return out

    def _local_of_next(self, origin: str, seen: int) -> tuple[int | None, str | None]:
        """The local seq just before origin's first event after ``seen`` (None: none here
        yet), and what was lost if events the reader lacks have left the ring.

        A hole in an origin's numbering is not a loss by itself: events an origin kept to
        itself (its own ``gap`` notices, an event too large to share) leave one, and when
        this hub's listener lost events, it put a ``gap`` event into its ring at that
        point, which a reader resumed before it receives."""
        segments = self._by_origin.get(origin)
        if segments is None:
            return None, "the id names a replica this one has not heard from"
        if seen >= self.latest.get(origin, seen):
            return None, None  # every event of it seen already; more may come
        if self._dropped.get(origin, -1) > seen:
            return None, "more events were missed than this replica keeps"
        for segment in segments:
            if segment.origin_end > seen:
                if segment.origin_start > seen:
                    lost = segment.follows is not None and segment.follows > seen
                    return segment.start - 1, (
                        "events of another replica never reached this one" if lost else None)
                return segment.start + (seen - segment.origin_start), None
        return None, None

    def resume(self, vector: dict[str, int], last_seq: int) -> Resume:
        """Where a reader whose other replica's id said ``vector`` starts here."""
        starts: list[int] = []
        missed: str | None = None
        for origin, seen in vector.items():
            local, lost = self._local_of_next(origin, seen)
            missed = missed or lost
            if local is not None:
                starts.append(local)
        for origin, segments in self._by_origin.items():
            if origin not in vector and segments:
                starts.append(segments[0].start - 1)  # none of its events seen yet
        return Resume(min(starts, default=last_seq), dict(vector), missed)

    def skip(self, after: int, end: int, floor: dict[str, int]) -> list[tuple[int, int]]:
        """Local seq ranges in ``after+1 … end`` of events at or below ``floor``."""
        ranges: list[tuple[int, int]] = []
        for segment in self._segments:
            if segment.end <= after or segment.start > end:
                continue
            seen = floor.get(segment.origin)
            if seen is None or seen < segment.origin_start:
                continue
            ranges.append((segment.start, segment.start + min(seen, segment.origin_end)
                           - segment.origin_start))
        return ranges

    def covers(self, floor: dict[str, int], cursor: int) -> bool:
        """True once every event ``floor`` names is here and at or before ``cursor``:
        a reader no longer needs to skip anything."""
        for origin, seen in floor.items():
            if self.latest.get(origin, -1) < seen:
                return False
            local, _ = self._local_of_next(origin, seen)
            if local is not None and local > cursor:
                return False
        return True
