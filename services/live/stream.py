"""One subscriber's server-sent event stream: read the hub after a cursor, filter, frame.

Consecutive value events go out as one ``values`` message whose id is the last value's,
so a busy stream costs one write per wake-up rather than one per reading, and resuming
from that id loses nothing. Other kinds (``alert`` and later ones) go out one message
each with their own type. Events the caller may not see still move the cursor; the
keep-alive carries the cursor's id so a reconnect does not replay them needlessly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import orjson

from heatlink.inputs import printable
from services.live.hub import Event, Gap, LiveHub
from services.live.observer import VALUE

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


def frame(hub: LiveHub, events: list[Event], audience: Audience,
          floor: dict[str, int] | None = None) -> list[bytes]:
    """SSE messages for ``events`` that ``audience`` may receive; ``floor``: what a reader
    resumed from another replica's id had seen (its ids never go back on it)."""
    out: list[bytes] = []
    # Readings as dicts (their fields, from ingest) or as JSON already encoded, all
    # encoded in one call per message: one call per reading cost a tenth of ingest.
    values: list[dict[str, object] | orjson.Fragment] = []
    last_value_seq = 0

    def flush() -> None:
        if values:
            out.append(message("values", orjson.dumps({"values": values}),
                               hub.event_id(last_value_seq, floor)))
            values.clear()  # encoded already; ``add`` below keeps appending to this list

    allowed = audience.series
    add = values.append
    # A datetime cost orjson more than the rest of its reading: each distinct one (by
    # identity: ``events`` holds them all, so no id is reused meanwhile) is encoded once.
    stamps: dict[int, orjson.Fragment] = {}
    # Unpacked, not read by field name: a named tuple's field is a property call, and this
    # loop runs once per stored reading for every open stream.
    for event in events:
        seq, kind, data, series, _ = event
        if isinstance(data, tuple):
            # A stored reading (`LiveHub.publish_values`: for every organisation that may
            # read its series): the common event, checked inline.
            if series not in allowed:
                continue
            key, ts, value, quality = data
            # Readings share few timestamps (one datetime object each, from ingest's
            # parse): each is encoded once, by identity, which keeps its offset as sent.
            stamp = stamps.get(id(ts))
            if stamp is None:
                stamp = stamps[id(ts)] = orjson.Fragment(orjson.dumps(ts))
            add({"series": key, "ts": stamp, "value": value, "quality": quality})
            last_value_seq = seq
            if len(values) >= MAX_VALUES_PER_MESSAGE:
                flush()
            continue
        if not audience.accepts(event):
            continue
        if kind == VALUE:
            add(orjson.Fragment(data))
        else:
            flush()
            out.append(message(kind, data, hub.event_id(seq, floor)))
            continue
        last_value_seq = seq
        if len(values) >= MAX_VALUES_PER_MESSAGE:
            flush()
    flush()
    return out


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
    while True:
        events, cursor, gap = hub.read(cursor, floor=floor)
        if gap is not None:
            yield gap_message(hub, gap)
        chunk = frame(hub, events, audience, floor)
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
