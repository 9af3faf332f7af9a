"""Live events shared between replicas through PostgreSQL's LISTEN/NOTIFY.

Each replica's hub gets what this replica stores (the ingest observer) and publishes (the
alerts); `LiveFanout` also sends both, compactly, on the channel ``heatlink_live``, and
puts what the other replicas send into its own hub. So a dashboard streaming from any
replica sees the readings and alerts of all of them.

Off the ingest path: the observer only keeps the batch's lists; a sender task sends what
gathered in one transaction of ``pg_notify`` calls (PostgreSQL delivers them at its commit,
in commit order), column by column, each payload under the 8000-byte limit. A replica
alone on its database sends nothing: before each send the sender asks whether another
replica's listener (known by its connection's application name) is connected. Encoding
every reading and the database passing it back to this replica's own listener cost the
single replica a tenth of its ingest throughput for no reader. A listener connects before
its replica is ready, so the only readings it can miss are those that were already on their
way when it connected, as before. A reading is
notified after it is stored, so a replica that dies in between leaves other replicas'
streams without those readings (the database has them; ``GET /v1/latest`` shows them). A
listener that lost its connection cannot know what it missed: its hub publishes a ``gap``
so streams reload.

Every message carries its origin (the publishing hub's boot) and the seq its first event
had there, so each hub knows where every event came from and a stream resumes with
``Last-Event-ID`` on any replica (`services.live.origins`). It also carries ``p``, the seq
of the event the origin meant to share just before it, sent or not: an origin's numbering
has holes that lose nothing (events it keeps to itself), and the chain tells those from
events that never arrived (sent while nobody listened, or lost with a failed send). A
receiver that finds the chain broken while it listened puts a ``gap`` in its hub, and a
reader resumed from before a break it never saw is told (`Origins.resume`). Events go out
in the order they were published, readings and other events alike, since a hub takes an
origin's events in that origin's order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from heatlink.aio import cancel_and_wait
from services.live.hub import Event, LiveHub
from services.live.observer import VALUE
from services.live.queries import q

log = logging.getLogger(__name__)

CHANNEL = "heatlink_live"
LISTENER_NAME = "heatlink live"  # the listener connection's application_name
MAX_PAYLOAD = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
_RECONNECT_S = 1.0

# A batch of readings stored here: its first seq, keys, times, values and qualities.
_Batch = tuple[int, Sequence[str], Sequence[datetime], Sequence[float], Sequence[str]]


def _last_seq_of(item: _Batch | dict[str, Any]) -> int:
    if isinstance(item, dict):
        return int(item["n"])
    return item[0] + len(item[1]) - 1


class LiveFanout:
    """The hub's forwarder (its readings and other events), sending to and listening on
    ``heatlink_live``."""

    def __init__(self, hub: LiveHub, pool: asyncpg.Pool, database_url: str) -> None:
        self.hub = hub
        self.pool = pool
        self.database_url = database_url
        self.origin = hub.boot  # our own notifications come back: skipped
        # Every payload starts with its origin (``payloads``): ours are recognised
        # without parsing them.
        self._own_prefix = '{"o":' + orjson.dumps(self.origin).decode()
        self._listener_pid = 0  # the backend pid of our listener's connection, 0: none
        # What waits to be shared, in publish order: a batch of readings (its first seq and
        # columns) or another event (its message).
        self._queue: list[_Batch | dict[str, Any]] = []
        self._chain = 0  # our seq of the last event meant to be shared, sent or not
        self._step = 64  # readings per payload, adapted to stay under the limit
        self._quiet: set[str] = set()  # origins whose break a reconnect gap already told
        self._pending = asyncio.Event()
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.sent_total = 0
        self.received_total = 0

    # ---- sending
    def values_published(self, first_seq: int, series_keys: Sequence[str],
                         ts: Sequence[datetime], values: Sequence[float],
                         quality: Sequence[str]) -> None:
        """Called by the hub for readings stored here, ``first_seq`` the first one's seq."""
        # Keeps the batch's own lists: O(1) here, on the ingest request's path.
        self._queue.append((first_seq, series_keys, ts, values, quality))
        self._pending.set()

    def forward(self, event: Event) -> None:
        """Called by the hub for every event published here other than readings."""
        assert isinstance(event.data, bytes)
        self._queue.append({"k": event.kind, "d": event.data.decode(), "s": event.series,
                            "o": sorted(event.orgs) if event.orgs is not None else None,
                            "n": event.seq})
        self._pending.set()

    def drop_pending(self) -> None:
        """Forget what waits to be shared (nobody to tell, or the send failed); the next
        message's chain still counts it, so a receiver knows it never came."""
        queue, self._queue = self._queue, []
        if queue:
            self._chain = _last_seq_of(queue[-1])

    def payloads(self) -> list[str]:
        """What waits to be shared, as NOTIFY payloads in publish order."""
        queue, self._queue = self._queue, []
        out: list[str] = []
        for item in queue:
            if isinstance(item, dict):
                payload = orjson.dumps({"o": self.origin, "p": self._chain, "e": item})
                if len(payload) <= MAX_PAYLOAD:
                    out.append(payload.decode())
                else:  # streamed only where it was published; the chain tells the others
                    log.warning("live event %r too large to share with other replicas",
                                item["k"])
                self._chain = item["n"]
            else:
                out += self._columns(*item)
        return out

    def _columns(self, first_seq: int, keys: Sequence[str], ts: Sequence[datetime],
                 values: Sequence[float], quality: Sequence[str]) -> list[str]:
        """A batch's readings as payloads under the limit, column by column: orjson encodes
        each column in one call (timestamps as RFC 3339), about 0.2 µs a reading."""
        out: list[str] = []
        start, step, n = 0, self._step, len(keys)
        while start < n:
            end = min(n, start + step)
            payload = orjson.dumps({"o": self.origin, "n": first_seq + start,
                                    "p": self._chain, "k": keys[start:end],
                                    "t": ts[start:end], "v": values[start:end],
                                    "q": quality[start:end]},
                                   option=orjson.OPT_SERIALIZE_NUMPY)
            if len(payload) > MAX_PAYLOAD:
                if end - start == 1:  # one reading that cannot fit (never with valid keys)
                    log.warning("live: a reading of %s too large to share", keys[start])
                    self._chain = first_seq + start
                    start = end
                    continue
                step = max(1, (end - start) // 2)
                continue
            out.append(payload.decode())
            self._chain = first_seq + end - 1
            # The next chunk sized to fill about nine tenths of the limit.
            step = max(1, int((end - start) * MAX_PAYLOAD * 0.9 / len(payload)))
            start = end
        self._step = max(1, step)
        return out

    async def _sender(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                async with self.pool.acquire() as conn:
                    if not await conn.fetchval(q("others_listening"), LISTENER_NAME,
                                               self._listener_pid):
                        self.drop_pending()  # nobody else to tell
                        continue
                    payloads = self.payloads()
                    if not payloads:
                        continue
                    async with conn.transaction():
                        await conn.executemany(q("share_event"),
                                               [(CHANNEL, p) for p in payloads])
                self.sent_total += len(payloads)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Live only: what could not be shared is in the database and in this
                # replica's streams; the others' streams miss it, and the chain tells them.
                self.drop_pending()
                log.warning("live events not shared with other replicas: %s", exc)

    # ---- receiving
    def _received(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        if payload.startswith(self._own_prefix):
            return
        try:
            self._put(orjson.loads(payload))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            # Only a session of this database can notify; still, one bad message must
            # not stop the others.
            log.warning("live: a message on %s not understood: %.200s", channel, payload)

    def _put(self, message: dict[str, Any]) -> None:
        if message.get("o") == self.origin:
            return
        self.received_total += 1
        origin = str(message["o"])
        follows = message.get("p")
        follows = int(follows) if follows is not None else None
        self._check_chain(origin, follows)
        if "k" in message:
            # A batch's readings share few times: each distinct one is parsed once (a
            # parse per reading was most of a receiver's cost), and equal times become one
            # object, which the streams' encoder also encodes once.
            texts = message["t"]
            parsed = {t: datetime.fromisoformat(t) for t in set(texts)}
            self.hub.publish_values(VALUE, message["k"], list(map(parsed.__getitem__, texts)),
                                    message["v"], message["q"],
                                    origin=(origin, int(message["n"])), follows=follows)
        elif "e" in message:
            e = message["e"]
            self.hub.publish(e["k"], e["d"].encode(), series=e["s"],
                             orgs=frozenset(e["o"]) if e["o"] is not None else None,
                             origin=(origin, int(e["n"])), follows=follows)

    def _check_chain(self, origin: str, follows: int | None) -> None:
        """A gap in the hub where ``origin``'s events went missing on their way here."""
        latest = self.hub.origins.latest.get(origin)
        if latest is None or follows is None or follows <= latest:
            self._quiet.discard(origin)
            return
        if origin in self._quiet:  # lost while our listener was away: told already
            self._quiet.discard(origin)
            return
        self.hub.publish("gap", orjson.dumps({
            "reason": "this replica did not receive some of another replica's live "
                      "events"}), share=False)

    def listening_again(self) -> None:
        """Between a lost connection and now, other replicas' events passed by: a gap in
        the hub, and the chain breaks this explains are not told twice."""
        self._quiet = set(self.hub.origins.latest) - {self.origin}
        self.hub.publish("gap", orjson.dumps({
            "reason": "this replica lost other replicas' live events for a while"}),
            share=False)

    def received(self, payload: str) -> None:
        """One message from another replica (the listener's callback, without the
        connection's own arguments)."""
        self._received(None, 0, CHANNEL, payload)

    async def _listener(self) -> None:
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.database_url, server_settings={"application_name": LISTENER_NAME})
                await conn.add_listener(CHANNEL, self._received)
                self._listener_pid = conn.get_server_pid()
                if not first:
                    self.listening_again()
                first = False
                self._listening.set()
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _c, done=closed: done.set())
                await closed.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live: not listening to other replicas (%s); again in %g s",
                            exc, _RECONNECT_S)
            finally:
                self._listening.clear()
                self._listener_pid = 0
                if conn is not None and not conn.is_closed():
                    await conn.close()
            await asyncio.sleep(_RECONNECT_S)  # a pace for reconnecting, not a wait

    # ---- life cycle
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listener(), name="live listener"),
                       asyncio.create_task(self._sender(), name="live sender")]
        try:
            await self._listening.wait()
        except BaseException:
            # Stopped while starting: nobody holds a stop for us yet, and a task left
            # pending would be destroyed with its connection half open.
            await self.stop()
            raise

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
