"""A scenario run in real time (times ``speed``), served over OPC UA and MQTT.

    async with LiveSimulation("furnace-trip", speed=600, opcua_port=port,
                              mqtt_url=url) as sim:
        await sim.wait_until(3600)           # sim seconds
        sim.published[key]                   # every sample that went out, (ts, value)

Timestamps: unless ``start`` is given, the sim clock starts far enough in the past that
the run ends at the present, so at ``speed`` > 1 no source timestamp is ever in the
future (a service rejects future readings). Without a duration it starts now.
Series whose scenario transport is MQTT go to OPC UA when no broker is given, and the
other way round, so every series is always served somewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO

from heatlink.aio import cancel_and_wait
from heatlink.clock import Clock, SystemClock
from simulators.catalog import SERIES, SETPOINTS, asset_of
from simulators.engine import Engine, StepResult
from simulators.mqtt_publisher import DEFAULT_TOPIC_PREFIX, MqttPublisher
from simulators.opcua_server import OpcUaSecurity, SimOpcUaServer, node_id_for
from simulators.scenario import Scenario, load_scenario
from simulators.truth import TruthEvent

log = logging.getLogger(__name__)
MAX_STEPS_PER_TICK = 200


class LiveSimulation:
    def __init__(self, scenario: str | Path | Scenario, *, speed: float = 60.0, seed: int = 1,
                 opcua_port: int | None = None, mqtt_url: str | None = None,
                 ground_truth_path: Path | None = None, start: datetime | None = None,
                 duration_s: float | None = None, opcua_security: OpcUaSecurity | None = None,
                 mqtt_ca_file: Path | None = None, topic_prefix: str = DEFAULT_TOPIC_PREFIX,
                 clock: Clock | None = None, run_forever: bool = False) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.clock = clock or SystemClock()
        self.duration_s = None if run_forever else (duration_s or self.scenario.duration_s)
        if start is None:
            now = self.clock.now().replace(microsecond=0)
            lag_s = (self.duration_s or 0.0) * (1.0 - 1.0 / speed)
            start = now - timedelta(seconds=lag_s)
        self.engine = Engine(self.scenario, seed=seed, start=start, wall_clock=self.clock.now)
        self.ground_truth_path = ground_truth_path
        self.topic_prefix = topic_prefix
        self.published: dict[str, list[tuple[datetime, float]]] = {s.key: [] for s in SERIES}
        self.truth: list[TruthEvent] = []
        self.finished = asyncio.Event()
        self._progress = asyncio.Condition()
        self._transport = self._route(opcua_port is not None, mqtt_url is not None)
        self.opcua: SimOpcUaServer | None = None
        if opcua_port is not None:
            self.opcua = SimOpcUaServer(
                port=opcua_port, series=[s for s in SERIES if self._transport[s.key] != "mqtt"],
                setpoints=SETPOINTS, setpoint_values=self.engine.setpoints(),
                on_write=self.engine.write_setpoint, security=opcua_security)
        self.mqtt = (MqttPublisher(mqtt_url, topic_prefix=topic_prefix, ca_file=mqtt_ca_file)
                     if mqtt_url else None)
        self._task: asyncio.Task[None] | None = None
        self.error: Exception | None = None  # what stopped the run early, if anything
        self._truth_file: IO[str] | None = None

    def _route(self, has_opcua: bool, has_mqtt: bool) -> dict[str, str]:
        routes: dict[str, str] = {}
        for info in SERIES:
            transport = self.scenario.transport_for(info.key)
            if not has_mqtt:
                transport = "opcua"
            elif not has_opcua:
                transport = "mqtt"
            routes[info.key] = transport
        return routes

    # ---- what tests and other parts use
    @property
    def start(self) -> datetime:
        return self.engine.start

    @property
    def sim_time_s(self) -> float:
        return self.engine.t_s

    @property
    def opcua_endpoint(self) -> str:
        if self.opcua is None:
            raise RuntimeError("this simulation serves no OPC UA")
        return self.opcua.endpoint

    def transport_of(self, series_key: str) -> str:
        """'opcua', 'mqtt' or 'both': where this series is published in this run."""
        return self._transport[series_key]

    def mqtt_topic_for(self, series_key: str) -> str:
        return f"{self.topic_prefix}/{series_key}"

    def opcua_node_id_for(self, series_key: str) -> str:
        return node_id_for(series_key)

    async def restart_opcua(self) -> None:
        """Stop and start the OPC UA server on the same port with the same node ids."""
        await self.stop_opcua()
        await self.start_opcua()

    async def stop_opcua(self) -> None:
        """Take the OPC UA server down (samples meanwhile are not published)."""
        if self.opcua is not None:
            await self.opcua.stop()
            self._record("opcua_stopped", "opcua", endpoint=self.opcua.endpoint)

    async def start_opcua(self) -> None:
        if self.opcua is not None:
            await self.opcua.start()
            self._record("opcua_started", "opcua", endpoint=self.opcua.endpoint)

    async def refuse_writes(self, setpoint_key: str, refuse: bool = True) -> None:
        """Make a setpoint refuse client writes (BadUserAccessDenied), or accept them again."""
        if self.opcua is not None:
            await self.opcua.refuse_writes(setpoint_key, refuse)
            self._record("writes_refused" if refuse else "writes_accepted",
                         asset_of(setpoint_key), setpoint_key)

    def set_comms(self, plant: str, *, lost: bool) -> None:
        """Stop (or resume) the plant's readings now, as a scenario's comms_loss would."""
        self._write_truth(self.engine.set_comms(plant, lost=lost))

    def _record(self, kind: str, asset: str, series: str | None = None,
                **detail: object) -> None:
        """What the harness did to the transport goes into the ground truth as well."""
        self._write_truth(self.engine.event("injected", kind, asset, series, **detail))

    def _write_truth(self, event: TruthEvent) -> None:
        self.truth.append(event)
        if self._truth_file is not None:
            self._truth_file.write(event.to_json() + "\n")
            self._truth_file.flush()

    def setpoints(self) -> dict[str, float]:
        """The physics' current setpoints (valve position in % and temperatures in °C)."""
        return self.engine.setpoints()

    async def wait_until(self, sim_s: float) -> None:
        """Return once the simulation has reached ``sim_s`` (or finished)."""
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.engine.t_s >= sim_s or self.finished.is_set())

    # ---- lifecycle
    async def __aenter__(self) -> LiveSimulation:
        if self.ground_truth_path is not None:
            self._truth_file = self.ground_truth_path.open("w")
        try:
            if self.opcua is not None:
                await self.opcua.start()
            if self.mqtt is not None:
                await self.mqtt.start()
        except BaseException:
            await self._close()
            raise
        self._task = asyncio.create_task(self._run(), name="heatlink-simulation")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._close()

    async def _close(self) -> None:
        if self.mqtt is not None and self.mqtt.started:
            with contextlib.suppress(TimeoutError):
                await self.mqtt.flush(timeout_s=5.0)
            await self.mqtt.stop()
        if self.opcua is not None:
            await self.opcua.stop()
        if self._truth_file is not None:
            self._truth_file.close()
            self._truth_file = None

    async def _run(self) -> None:
        try:
            await self._pace()
        except Exception as exc:  # a dead simulation must not leave its waiters hanging
            log.exception("simulation stopped by an error")
            self.error = exc
        finally:
            self.finished.set()
            async with self._progress:
                self._progress.notify_all()

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        dt_s = self.engine.dt_s
        last_step = None if self.duration_s is None else round(self.duration_s / dt_s)
        while last_step is None or self.engine.step_index <= last_step:
            due = int((loop.time() - t0) * self.speed / dt_s)
            if last_step is not None:
                due = min(due, last_step)
            # At most a few hundred steps between yields, so clients are served at any speed.
            due = min(due, self.engine.step_index + MAX_STEPS_PER_TICK)
            while self.engine.step_index <= due:
                await self._publish(self.engine.step())
            async with self._progress:
                self._progress.notify_all()
            next_wall = t0 + self.engine.step_index * dt_s / self.speed
            await asyncio.sleep(max(0.0, next_wall - loop.time()))

    async def _publish(self, result: StepResult) -> None:
        for event in result.truth:
            self._write_truth(event)
        for reading in result.readings:
            key = reading.series
            sent = False
            transport = self._transport[key]
            if transport != "mqtt" and self.opcua is not None and self.opcua.running:
                await self.opcua.publish(key, reading.ts, reading.value, reading.quality)
                sent = True
            if transport != "opcua" and self.mqtt is not None:
                self.mqtt.publish(key, reading.ts, reading.value, reading.quality)
                sent = True
            if sent:
                self.published[key].append((reading.ts, reading.value))
