"""One subscriber's server-sent event stream: read the hub after a cursor, filter, frame.

Consecutive value events go out as one ``values`` message whose id is the last value's,
so a busy stream costs one write per wake-up rather than one per reading, and resuming
from that id loses nothing. Other kinds (``alert`` and later ones) go out one message
each with their own type. Events the caller may not see still move the cursor; the
keep-alive carries the cursor's id so a reconnect does not replay them needlessly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress

import orjson

from heatlink.inputs import printable
from services.live.hub import Event, Gap, LiveHub, Span
from services.live.observer import VALUE
from services.live.rows import RowEncoder

KEEPALIVE_S = 15.0
RETRY_MS = 3000
MAX_VALUES_PER_MESSAGE = 5000


@dataclass(frozen=True)
class Audience:
    """Who is listening: the caller's organisation and the series it chose and may see.

    An event for named organisations (an alert) goes to those only: the facilitator
    reads every series but not other companies' alerts, as in GET /v1/alerts."""

    org: str
    series: frozenset[str]

    def accepts(self, event: Event) -> bool:
        if event.series is not None and event.series not in self.series:
            return False
        return event.orgs is None or self.org in event.orgs


def message(kind: str, data: bytes, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\n".encode() + b"data: " + data + b"\n\n"


def frame(hub: LiveHub, events: Sequence[Event | Span], audience: Audience,
          floor: dict[str, int] | None = None, encoder: RowEncoder | None = None
          ) -> list[bytes]:
    """SSE messages for ``events`` (events and spans of readings, as ``LiveHub.read_spans``
    gives them) that ``audience`` may receive; ``floor``: what a reader resumed from
    another replica's id had seen (its ids never go back on it)."""
    out: list[bytes] = []
    # Readings as JSON already encoded, all joined into one message: one encoding call
    # per reading cost a tenth of ingest. A fragment holds one or more readings.
    values: list[orjson.Fragment] = []
    count = 0  # readings in ``values``
    last_value_seq = 0
    encoder = encoder or RowEncoder()

    def flush() -> None:
        nonlocal count
        if values:
            out.append(message("values", orjson.dumps({"values": values}),
                               hub.event_id(last_value_seq, floor)))
            values.clear()  # encoded already; ``add`` below keeps appending to this list
            count = 0

    allowed = audience.series
    for event in events:
        if isinstance(event, Span):
            keys, ts, numbers, quality, seqs = _allowed(event, allowed)
            done = 0
            while done < len(keys):  # at most MAX_VALUES_PER_MESSAGE a message
                end = done + min(len(keys) - done, MAX_VALUES_PER_MESSAGE - count)
                values.append(orjson.Fragment(encoder.rows(
                    keys[done:end], ts[done:end], numbers[done:end], quality[done:end])))
                count += end - done
                done = end
                last_value_seq = seqs[done - 1]
                if count >= MAX_VALUES_PER_MESSAGE:
                    flush()
            continue
        seq, kind, data, _, _ = event
        if not audience.accepts(event):
            continue
        if isinstance(data, tuple):  # a reading's fields (`LiveHub.read` made the event)
            data = encoder.rows([data[0]], [data[1]], [data[2]], [data[3]])
        if kind == VALUE:
            values.append(orjson.Fragment(data))
            count += 1
        else:
            flush()
            out.append(message(kind, data, hub.event_id(seq, floor)))
            continue
        last_value_seq = seq
        if count >= MAX_VALUES_PER_MESSAGE:
            flush()
    flush()
    return out


def _allowed(span: Span, allowed: frozenset[str]
             ) -> tuple[Sequence[str], Sequence[datetime], Sequence[float], Sequence[str],
                        Sequence[int]]:
    """The columns of ``span``'s readings whose series ``allowed`` holds, and their seqs."""
    block, start, stop = span
    keys, ts = block.keys[start:stop], block.ts[start:stop]
    values, quality = block.values[start:stop], block.quality[start:stop]
    first = block.first_seq + start
    seqs: Sequence[int] = range(first, first + len(keys))
    if not allowed.issuperset(keys):
        keep = list(map(allowed.__contains__, keys))
        keys, ts = list(compress(keys, keep)), list(compress(ts, keep))
        values, quality = list(compress(values, keep)), list(compress(quality, keep))
        seqs = list(compress(seqs, keep))
    return keys, ts, values, quality, seqs


def gap_message(hub: LiveHub, gap: Gap) -> bytes:
    requested = None if gap.requested is None else printable(gap.requested, 100)
    data = orjson.dumps({"requested": requested, "resumed_at": hub.event_id(gap.resumed_seq),
                         "reason": gap.reason,
                         "what_to_do": "events were missed: reload current values from "
                                       "GET /v1/latest, then carry on with this stream"})
    return message("gap", data, hub.event_id(gap.resumed_seq - 1))


async def events_for(hub: LiveHub, audience: Audience, last_event_id: str | None,
                     still_allowed: Callable[[], Awaitable[bool]],
                     keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """The byte stream of one subscriber, until the hub closes or access is withdrawn.

    Every ``keepalive_s`` the token is checked again and a keep-alive carries the cursor."""
    cursor, gap, floor = hub.start_from(last_event_id)
    hello = orjson.dumps({"last_event_id": hub.event_id(cursor, floor),
                          "series": len(audience.series)})
    yield f"retry: {RETRY_MS}\n".encode() + message("hello", hello,
                                                    hub.event_id(cursor, floor))
    if gap is not None:
        yield gap_message(hub, gap)
    checked_at = time.monotonic()
    encoder = RowEncoder()
    while True:
        events, cursor, gap = hub.read_spans(cursor, floor=floor)
        if gap is not None:
            yield gap_message(hub, gap)
        chunk = frame(hub, events, audience, floor, encoder)
        if floor is not None and hub.origins.covers(floor, cursor):
            floor = None  # caught up with what the other replica had sent
        if chunk:
            yield b"".join(chunk)
        if cursor < hub.last_seq:
            continue  # more than one read's worth is waiting
        if not await hub.wait(cursor, keepalive_s):
            yield message("end", b'{"reason": "the service is shutting down; reconnect"}')
            return
        if time.monotonic() - checked_at >= keepalive_s:
            # Long streams outlive tokens: re-check, and tell the client where it is.
            if not await still_allowed():
                yield message("end", b'{"reason": "the token was revoked or expired"}')
                return
            checked_at = time.monotonic()
            yield f": keep-alive\nid: {hub.event_id(cursor, floor)}\n\n".encode()
