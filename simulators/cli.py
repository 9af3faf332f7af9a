"""``heatlink simulate``: run a scenario live, list scenarios, or generate load.

    heatlink simulate furnace-trip --speed 60 --opcua-port 4840 --mqtt-url mqtt://localhost:1883
    heatlink simulate --list
    heatlink simulate --load-opcua 5000 --duration 60
    heatlink simulate --load-mqtt 20000 --mqtt-url mqtt://localhost:1883 --duration 10

Ctrl-C stops the run: the servers close, queued MQTT messages are flushed and the
ground-truth file is complete up to that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from simulators.scenario import list_scenarios, load_scenario

app = typer.Typer(add_completion=False, help="Run a simulated cluster scenario over OPC UA "
                  "and MQTT, list the scenarios, or generate benchmark load.")


def _users(pairs: list[str]) -> dict[str, str]:
    users: dict[str, str] = {}
    for pair in pairs:
        name, sep, password = pair.partition(":")
        if not sep or not name:
            raise typer.BadParameter(f"expected NAME:PASSWORD, got {pair!r}")
        users[name] = password
    return users


@app.command()
def simulate(
    scenario: Annotated[str | None, typer.Argument(
        help="A shipped scenario name or a scenario file")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped scenarios")] = False,
    speed: Annotated[float, typer.Option(help="Sim seconds per wall second")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the sensors' noise and faults")] = 1,
    opcua_port: Annotated[int, typer.Option(help="OPC UA port; 0 serves no OPC UA")] = 4840,
    mqtt_url: Annotated[str | None, typer.Option(
        help="mqtt://[user:pass@]host:port or mqtts://…; none: every series over OPC UA")] = None,
    mqtt_ca: Annotated[Path | None, typer.Option(help="CA file for mqtts://")] = None,
    duration: Annotated[float | None, typer.Option(
        help="Sim seconds to run (default: the scenario's duration)")] = None,
    forever: Annotated[bool, typer.Option(
        help="Keep running past the scenario's end; the sim clock then starts now and, at "
             "speed > 1, runs ahead of the wall clock")] = False,
    ground_truth: Annotated[Path | None, typer.Option(
        help="Ground-truth file (JSON lines); default var/simulate/<scenario>-<UTC time>.jsonl "
             "under the current folder")] = None,
    cert_dir: Annotated[Path | None, typer.Option(
        help="Offer Basic256Sha256 Sign and SignAndEncrypt; certificates are made and kept "
             "here, trusted client certificates go in its trusted/ folder")] = None,
    opcua_user: Annotated[list[str] | None, typer.Option(
        help="NAME:PASSWORD; repeat for more users. With users, anonymous access is off")] = None,
    load_opcua: Annotated[int | None, typer.Option(
        help="Load mode: serve this many OPC UA variables, all changing every second")] = None,
    load_mqtt: Annotated[float | None, typer.Option(
        help="Load mode: publish this many MQTT messages per second to --mqtt-url")] = None,
) -> None:
    if list_:
        for name in list_scenarios():
            typer.echo(f"{name:16} {load_scenario(name).description.split('.')[0]}")
        return
    if load_opcua is not None or load_mqtt is not None:
        _run_load(load_opcua, load_mqtt, opcua_port or 4840, mqtt_url, duration or 10.0)
        return
    if scenario is None:
        raise typer.BadParameter("name a scenario, or use --list")
    from simulators.live import LiveSimulation
    from simulators.opcua_server import OpcUaSecurity

    if ground_truth is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        ground_truth = Path("var/simulate") / f"{Path(scenario).stem}-{stamp}.jsonl"
    ground_truth.parent.mkdir(parents=True, exist_ok=True)
    security = OpcUaSecurity(cert_dir=cert_dir, users=_users(opcua_user or []))
    sim = LiveSimulation(scenario, speed=speed, seed=seed,
                         opcua_port=opcua_port or None, mqtt_url=mqtt_url,
                         ground_truth_path=ground_truth, duration_s=duration,
                         opcua_security=security, mqtt_ca_file=mqtt_ca, run_forever=forever)

    async def run() -> None:
        async with sim:
            if sim.opcua is not None:
                typer.echo(f"OPC UA: {sim.opcua_endpoint} (node ids ns=2;s=<series key>)")
            if sim.mqtt is not None:
                typer.echo(f"MQTT: {mqtt_url} topics {sim.topic_prefix}/<series key>")
            typer.echo(f"ground truth: {ground_truth}")
            typer.echo(f"scenario {sim.scenario.name} at {speed:g}x, sim clock from "
                       f"{sim.start.isoformat()}; Ctrl-C stops")
            await sim.finished.wait()
        typer.echo(f"finished at sim time {sim.sim_time_s:.0f} s")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def _run_load(n_opcua: int | None, mqtt_rate: float | None, port: int, mqtt_url: str | None,
              duration_s: float) -> None:
    from simulators.load import mqtt_load, opcua_load

    async def run() -> None:
        jobs = []
        if n_opcua is not None:
            jobs.append(opcua_load(n_opcua, port=port, duration_s=duration_s))
        if mqtt_rate is not None:
            if mqtt_url is None:
                raise typer.BadParameter("--load-mqtt needs --mqtt-url")
            jobs.append(mqtt_load(mqtt_url, mqtt_rate, duration_s=duration_s))
        for report in await asyncio.gather(*jobs):
            typer.echo(report.summary())

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
