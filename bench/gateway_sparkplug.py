"""Sparkplug B in `heatlink bench gateway`: DDATA with ten metrics a message, queued at the
broker for the gateway's session, drained into the buffer and through to the uplink; and
the same queued load drained by ``mosquitto_sub`` as the yardstick (`bench_mosquitto_sub`).

Both paths run `ROUNDS` rounds, each with the load published again: a single drain of the
gateway took 0.31 to 0.36 s and the yardstick's 0.22 to 0.32 s in one sitting, so one
round's ratio said as much about the machine's moment as about the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from bench import gateway_peers as bench_peers
from bench.mosquitto_sub import MosquittoSub
from gateway.config import GatewayConfig
from gateway.runner import Gateway
from heatlink.wire import Reading

METRICS_PER_MESSAGE = 10
ROUNDS = 3


@dataclass(frozen=True)
class Drained:
    """Seconds from the gateway's start until everything was in the buffer, and out."""

    into_buffer_s: float
    to_uplink_s: float
    sub_s: float | None  # mosquitto_sub on the same load; None when it is not installed
    first_in_s: float = 0.0  # from the start until the first reading came in


async def drain(gateway: Gateway, received: Synchronized[int], count: int,
                timeout_s: float = 300) -> tuple[float, float, float]:
    """Run the gateway until `count` more readings came in and went out; seconds from its start
    to all in the buffer, to all out, and to the first in.

    In and first in are taken where the readings reach the buffer (its `add` wrapped), not
    by polling: while the gateway drains a queue its event loop is busy, and a poll came
    late (it once put the first reading at the end, and Sparkplug at 2 million metrics/s).
    Out is polled: that count lives in the sink's process."""
    start_out = received.value
    began = time.monotonic()
    into_s = first_s = 0.0
    added = 0
    add = gateway.buffer.add

    async def counted_add(readings: Sequence[Reading]) -> None:
        nonlocal added, into_s, first_s
        first_s = first_s or time.monotonic() - began
        await add(readings)
        added += len(readings)
        if not into_s and added >= count:
            into_s = time.monotonic() - began

    gateway.buffer.add = counted_add  # type: ignore[method-assign]
    task = asyncio.create_task(gateway.run())
    try:
        while received.value - start_out < count:
            if task.done():
                task.result()
            if time.monotonic() - began > timeout_s:
                raise TimeoutError("the benchmark did not finish in time")
            await asyncio.sleep(0.005)
        out_s = time.monotonic() - began
        return into_s or out_s, out_s, first_s
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until_up(gateway: Gateway) -> None:
    """Start the gateway once so that the broker keeps a session for it, then stop."""
    task = asyncio.create_task(gateway.run())
    try:
        async with asyncio.timeout(20):
            while True:  # a plain flag: nothing to await
                if gateway.sources[0].up:
                    return
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def bench_sparkplug(config_for: Any, spawn: Any, folder: Path, sink_url: str,
                          received: Synchronized[int], url: str, messages: int,
                          rounds: int = ROUNDS) -> list[Drained]:
    group = "Bench"
    source = {"kind": "sparkplug", "name": "sparkplug", "url": url, "group_id": group,
              "host_id": "bench-host", "client_id": "bench-gateway-sp",
              "receive_maximum": 20_000,
              "metrics": [{"node": "bench-edge", "device": "dev", "metric": f"m{k}",
                           "series": f"bench/sp{k}"} for k in range(METRICS_PER_MESSAGE)]}
    config = config_for(folder / "sparkplug", sink_url, [source])
    await until_up(Gateway(config))
    sub = MosquittoSub(url, f"spBv1.0/{group}/#", "bench-sub-sparkplug")
    if sub.available:
        sub.subscribe()
    # The births (2 messages) come first; the DBIRTH's values are readings too.
    return await in_rounds(config, received, sub, spawn, lambda done: spawn.Process(
        target=bench_peers.run_sparkplug_publisher,
        args=(url, group, messages, METRICS_PER_MESSAGE, done)),
        messages + 2, (messages + 1) * METRICS_PER_MESSAGE, rounds)


async def in_rounds(config: GatewayConfig, received: Synchronized[int], sub: MosquittoSub,
                    spawn: Any, publisher: Callable[[Synchronized[int]], Any], messages: int,
                    readings: int, rounds: int) -> list[Drained]:
    """`rounds` times: the load published (by the process `publisher` makes), then drained
    by mosquitto_sub's sessions (`messages`) and by a gateway (`readings`)."""
    drained = []
    for _ in range(rounds):
        # Held here: a started process lets go of its arguments, and a shared value no one
        # holds is gone before the spawned publisher unpickles it.
        done: Synchronized[int] = spawn.Value("i", 0)
        process = publisher(done)
        process.start()
        await asyncio.to_thread(process.join)
        sub_s = await asyncio.to_thread(sub.drain, messages) if sub.available else None
        into_s, out_s, first_s = await drain(Gateway(config), received, readings)
        drained.append(Drained(into_s, out_s, sub_s, first_s))
    return drained
