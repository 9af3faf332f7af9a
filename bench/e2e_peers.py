"""The end-to-end benchmark's peers, each the target of a process of its own (spawned), so
that none shares a GIL with another or with the service: the plant (an asyncua server that
changes values on a schedule), the real gateway with its uplink timed, the webhook receiver
and the background ingest load. They report through files written a line at a time and
through flags in shared memory; none of this is used by the product."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import IO, Any

import orjson

from bench.asgi import read_body
from gateway.protocols import SendOutcome, Uplink
from heatlink.wire import Reading

NORMAL, BREACH = 20.0, 150.0  # the band rules' high limit lies between them

# Steps of the plant's `state` flag, set by the plant (1, 3) and by the bench (2).
PLANT_UP, PLANT_GO, PLANT_DONE = 1, 2, 3


# -- the plant -------------------------------------------------------------------------


def run_plant(port: int, keys: Sequence[str], changes: int, interval_s: float,
              state: Synchronized[int]) -> None:
    asyncio.run(_plant(port, keys, changes, interval_s, state))


async def _plant(port: int, keys: Sequence[str], changes: int, interval_s: float,
                 state: Synchronized[int]) -> None:
    import logging

    from asyncua import ua
    from asyncua.server.server import Server

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/e2e/")
    ns = await server.register_namespace("urn:heatlink:bench:e2e")
    nodes = [await server.nodes.objects.add_variable(
        ua.NodeId.from_string(f"ns={ns};s={key}"), key, NORMAL) for key in keys]
    await server.start()
    state.value = PLANT_UP
    while state.value < PLANT_GO:  # noqa: ASYNC110 (a flag in shared memory: nothing to await)
        await asyncio.sleep(0.05)
    values = [NORMAL] * len(nodes)
    started = time.monotonic()
    for k in range(changes):
        # On a fixed schedule, so a slow write does not thin out the changes that follow.
        delay = started + k * interval_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        i = k % len(nodes)
        values[i] = BREACH if values[i] == NORMAL else NORMAL
        now = datetime.now(UTC)
        # asyncua types its DateTime as a distinct alias of datetime
        dv = ua.DataValue(ua.Variant(values[i], ua.VariantType.Double),
                          SourceTimestamp=now, ServerTimestamp=now)  # type: ignore[arg-type]
        await server.write_attribute_value(nodes[i].nodeid, dv)
    state.value = PLANT_DONE
    await asyncio.sleep(3600)  # until terminated: the gateway stays subscribed meanwhile


# -- the gateway -----------------------------------------------------------------------


class TimedUplink:
    """The gateway's own uplink, with the wall time each batch was sent and answered written
    down (one JSON line per batch: its readings' series and source times)."""

    def __init__(self, inner: Uplink, out: IO[bytes]) -> None:
        self._inner = inner
        self._out = out

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        sent = time.time()
        outcome = await self._inner.send(batch_id, readings)
        answered = time.time()
        self._out.write(orjson.dumps({"sent": sent, "answered": answered, "readings": [
            (r.series, r.ts.timestamp()) for r in readings]}) + b"\n")
        self._out.flush()
        return outcome

    async def ready(self) -> bool:
        return await self._inner.ready()

    async def close(self) -> None:
        await self._inner.close()


def run_gateway(config: dict[str, Any], batches_path: str, up: Synchronized[int]) -> None:
    asyncio.run(_gateway(config, Path(batches_path), up))


async def _gateway(raw: dict[str, Any], batches_path: Path, up: Synchronized[int]) -> None:
    import logging

    from gateway.config import parse_config
    from gateway.runner import Gateway
    from gateway.uplink_failover import FailoverUplink
    from gateway.uplink_http import HttpUplink

    logging.getLogger("asyncua").setLevel(logging.ERROR)  # its notes on session timeouts
    config = parse_config(raw)
    u = config.uplink
    # Built as the runner builds it, then timed from outside.
    inner = FailoverUplink([(url, HttpUplink(url, u.gateway_id, u.resolved_token(),
                                             timeout_s=u.timeout_s, compress=u.gzip))
                            for url in u.service_urls()])
    with batches_path.open("ab") as out:
        gateway = Gateway(config, uplink=TimedUplink(inner, out))
        task = asyncio.create_task(gateway.run())
        while not all(s.up for s in gateway.sources):
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        up.value = 1
        await task


# -- the webhook receiver --------------------------------------------------------------


def run_receiver(port: int, arrivals_path: str, received: Synchronized[int]) -> None:
    """Answers every POST with 200 and writes one line per notification in it:
    ``transition_id arrival_wall_time``."""
    import uvicorn

    out = Path(arrivals_path).open("a")  # noqa: SIM115 (open for the process's life)

    async def app(scope: dict[str, Any], receive: Callable[[], Any],
                  send: Callable[[dict[str, Any]], Any]) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        now = time.time()
        notes = orjson.loads(body).get("notifications", [])
        out.write("".join(f"{n['transition_id']} {now:.6f}\n" for n in notes))
        out.flush()
        with received.get_lock():
            received.value += len(notes)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


# -- the background load ---------------------------------------------------------------


def run_load(base_url: str, token: str, keys: Sequence[str], rate: float, batch: int,
             stop: Synchronized[int], stored: Synchronized[int],
             elapsed: Synchronized[float]) -> None:
    asyncio.run(_load(base_url, token, keys, rate, batch, stop, stored, elapsed))


async def _load(base_url: str, token: str, keys: Sequence[str], rate: float, batch: int,
                stop: Synchronized[int], stored: Synchronized[int],
                elapsed: Synchronized[float]) -> None:
    """Batches of ``batch`` readings paced to ``rate`` readings/s, made just in time, posted
    by four clients; a service that falls behind slows the load (the queue is short) rather
    than let it pile up, and the achieved rate is reported."""
    import httpx

    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
    interval_s = batch / rate
    base = datetime.now(UTC) - timedelta(hours=6)
    started = time.perf_counter()
    clients = 4

    def body(n: int) -> bytes:
        readings = []
        for i in range(n * batch, (n + 1) * batch):
            step, k = divmod(i, len(keys))
            readings.append({"series": keys[k],
                             "ts": (base + timedelta(seconds=step)).isoformat(),
                             "value": 20.0 + (i % 100) / 10, "quality": "good"})
        return orjson.dumps({"gateway": "bench-gw", "batch_id": f"load-{n}",
                             "readings": readings})

    async def pace() -> None:
        n = 0
        while not stop.value:
            delay = started + n * interval_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load, not awaiting an event
            await queue.put(body(n))
            n += 1
        for _ in range(clients):
            await queue.put(b"")

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as c:
            while payload := await queue.get():
                response = await c.post("/v1/ingest", content=payload)
                response.raise_for_status()
                with stored.get_lock():
                    stored.value += response.json()["accepted"]

    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(pace(), *(client() for _ in range(clients)))
    elapsed.value = time.perf_counter() - started
