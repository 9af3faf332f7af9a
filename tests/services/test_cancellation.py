"""The service stops when it is told to, during its start or while it runs, whether its
brokers answer, hang or are gone.

Each round runs the app's lifespan (what uvicorn runs around serving) with every loop it
starts: the control bus and runner, the monitor, the alert worker's thread with its MQTT
and e-mail channels busy on a fresh alert, the live hub and the retention loop. Mosquitto
is this test's own, to freeze (SIGSTOP) and stop; the mail relay accepts connections and
never answers. The round cancels the lifespan at a random moment and requires it to end
within `STOP_BOUND_S`: a bound on "does not hang", not a speed figure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI

from services.app import create_app
from services.runtimes import runtimes_of
from services.settings import Settings
from tests.alerts.support import T0, trip
from tests.support.cancellation import at_random_point, stop_within_bound
from tests.support.faults import FrozenService, frozen
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.slow

PHASES = ("starting", "running", "broker_frozen", "broker_gone", "frozen_from_start")
ROUNDS_PER_PHASE = 3


@pytest.fixture
def frozen_relay() -> Iterator[FrozenService]:
    made = FrozenService()
    try:
        yield made
    finally:
        made.close()


async def serve(app: FastAPI, started: asyncio.Event) -> None:
    async with app.router.lifespan_context(app):
        started.set()
        await asyncio.Event().wait()


async def one_round(phase: str, n: int, rng: random.Random, settings: Settings,
                    broker: Mosquitto, what: str) -> None:
    app = create_app(settings)
    started = asyncio.Event()
    if phase == "frozen_from_start":
        with frozen(broker.process):
            task = asyncio.create_task(serve(app, started), name="service")
            await at_random_point(rng, 2.0)
            await stop_within_bound(task, what)
        return
    task = asyncio.create_task(serve(app, started), name="service")
    if phase == "starting":
        await at_random_point(rng, 0.3, max_turns=3000)
        await stop_within_bound(task, what)
        return
    await asyncio.wait([task, asyncio.create_task(started.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # a failed start shows its error
    # A fresh alert (raised, then cleared, round by round) keeps the channels busy.
    finding = trip(at=T0 + timedelta(hours=n))
    if n % 2:
        finding = dataclasses.replace(finding, state="ok", previous_state="disrupted")
    await runtimes_of(app).alerts.service.findings([finding])
    if phase == "running":
        await at_random_point(rng, 1.0)
        await stop_within_bound(task, what)
    elif phase == "broker_frozen":
        with frozen(broker.process):
            await at_random_point(rng, 1.5)
            await stop_within_bound(task, what)
    elif phase == "broker_gone":
        broker.stop()
        try:
            await at_random_point(rng, 1.0)
            await stop_within_bound(task, what)
        finally:
            broker.start()


async def test_the_service_stops_within_the_bound_wherever_it_is_cancelled(
        fresh_database_url: str, mosquitto: Mosquitto, frozen_relay: FrozenService,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
            "HEATLINK_CONTROL_MQTT_URL": mosquitto.url,
            "HEATLINK_CONTROL_CLIENT_ID": f"service-{uuid.uuid4().hex[:8]}",
            "HEATLINK_CONTROL_TICK_S": "0.2",
            "HEATLINK_ALERTS_MQTT_URL": mosquitto.url,
            "HEATLINK_ALERTS_SMTP_URL": frozen_relay.url.replace("http://", "smtp://"),
            "HEATLINK_ALERTS_POLL_S": "0.2"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings(database_url=fresh_database_url, retention_check_interval_s=0.5)
    seed = int(os.environ.get("HEATLINK_TEST_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    rounds = [phase for phase in PHASES for _ in range(ROUNDS_PER_PHASE)]
    rng.shuffle(rounds)
    for n, phase in enumerate(rounds):
        what = f"round {n} ({phase}; HEATLINK_TEST_SEED={seed})"
        before = set(threading.enumerate())
        await one_round(phase, n, rng, settings, mosquitto, what)
        left = [t.name for t in set(threading.enumerate()) - before
                if t.name == "alert-worker" or t.name.startswith("paho")]
        assert not left, f"{what}: still running after the stop: {left}"
