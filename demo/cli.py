"""`heatlink demo`: simulated plants, gateways, the service with monitor, alerts and dashboard.

Everything runs on this machine on embedded defaults: a private PostgreSQL (TimescaleDB
when installed) in the data folder, a private Mosquitto, the simulated Nordland cluster
over OPC UA and MQTT, one gateway per site, and the service on --port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from alerts.settings import AlertSettings
from demo.broker import BrokerUser, LocalMosquitto, gateway_user, service_user
from demo.gateways import SITE_GATEWAYS, edge_limits, gateway_config
from demo.keys import DemoKeys, demo_keys
from gateway.runner import Gateway
from heatlink.aio import cancel_and_wait
from heatlink.cluster.index import ClusterIndex
from services.access.principal import Role
from services.access.users import UserStore
from services.app import create_app
from services.cli_serve import tune_garbage_collector
from services.runtimes import runtimes_of
from services.settings import ControlSettings, Settings
from services.storage.embedded import database_for
from services.storage.local_postgres import free_port
from simulators.live import LiveSimulation

app = typer.Typer(add_completion=False)
log = logging.getLogger("heatlink.demo")


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Simulator scenario (heatlink simulate --list)")]
    = "demo",
    speed: Annotated[float, typer.Option(
        help="Simulated seconds per real second. At 1 the plant runs on the wall clock for "
             "ever; faster, the scenario is replayed so that it ends now (source timestamps "
             "may not run ahead of the service's clock)")] = 1.0,
    port: Annotated[int, typer.Option(help="Port of the service and dashboard")] = 8000,
    host: Annotated[str, typer.Option(help="Address of the service")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 1,
    webhook_url: Annotated[str | None, typer.Option(
        help="Also send every company's alerts, unsigned, to this URL by webhook (in a real "
             "cluster each company names its own in the cluster file's subscriptions)")]
    = None,
) -> None:
    """Run the whole system until Ctrl-C."""
    settings = Settings()
    tune_garbage_collector(settings)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("asyncua", "httpx", "mail.log"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if webhook_url:
        settings = settings.model_copy(update={"cluster_file": _with_webhook(
            settings.cluster_file, webhook_url, data_dir / "cluster-with-webhook.yaml")})
    broker = None
    given = os.environ.get("HEATLINK_MQTT_URL")
    if given:
        logins = BrokerLogins(given, given, dict.fromkeys(SITE_GATEWAYS, given), given)
    else:
        broker, logins = _start_broker(data_dir / "mosquitto")
    chosen_key = os.environ.get("HEATLINK_CONTROL_SIGNING_KEY_FILE")
    keys = demo_keys(data_dir / "keys", SITE_GATEWAYS, Path(chosen_key) if chosen_key else None)
    mail = _start_mail_sink(data_dir / "mail")
    # Point alerts and control at the demo's broker, keys and mail sink unless the user
    # chose others, then read their sections again.
    os.environ.setdefault("HEATLINK_ALERTS_MQTT_URL", logins.service)
    os.environ.setdefault("HEATLINK_ALERTS_SMTP_URL", f"smtp://127.0.0.1:{mail.port}")
    os.environ.setdefault("HEATLINK_ALERTS_PUBLIC_URL", f"http://{host}:{port}")
    os.environ.setdefault("HEATLINK_CONTROL_MQTT_URL", logins.service)
    os.environ.setdefault("HEATLINK_CONTROL_SIGNING_KEY_FILE", str(keys.service))
    os.environ.setdefault("HEATLINK_CONTROL_GATEWAY_KEYS_FILE", str(keys.gateway_keys_file))
    settings = settings.model_copy(update={"alerts": AlertSettings(),
                                           "control": ControlSettings()})
    try:
        with database_for(settings) as url:
            asyncio.run(_run(settings.model_copy(update={"database_url": url}), data_dir,
                             logins, keys, scenario, speed, host, port, seed))
    except KeyboardInterrupt:
        pass
    finally:
        mail.stop()
        if broker is not None:
            broker.close()


def _with_webhook(cluster_file: Path, url: str, out: Path) -> Path:
    """A copy of the cluster file in which every organisation also subscribes ``url``."""
    data = yaml.safe_load(cluster_file.read_text())
    data.setdefault("subscriptions", []).extend(
        {"org": org["id"], "contact": "demo webhook", "channel": "webhook", "address": url}
        for org in data.get("organisations", []))
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _start_mail_sink(folder: Path) -> Controller:
    """A local SMTP server that keeps every alert e-mail as a file in a maildir."""
    # mailbox.Maildir makes tmp/, new/ and cur/ only when it makes the folder itself, so a
    # folder that exists without them (made by hand, or by an earlier version) gets them here.
    for part in ("tmp", "new", "cur"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(folder), hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


@dataclass(frozen=True)
class BrokerLogins:
    """Who connects to the demo's broker as whom: each part with only the topics it needs."""

    simulator: str
    service: str
    gateways: dict[str, str]
    alerts: str  # reads every organisation's alerts: what the demo prints for people to watch


def _start_broker(folder: Path) -> tuple[LocalMosquitto, BrokerLogins]:
    simulator = BrokerUser.with_random_password("simulator", write=("heatlink-sim/#",))
    service = service_user()
    gateways = {g: gateway_user(g, readings=(f"heatlink-sim/{site}/#",))
                for g, site in SITE_GATEWAYS.items()}
    alerts = BrokerUser.with_random_password("alerts-reader", read=("heatlink/+/alerts",))
    broker = LocalMosquitto(folder=folder, superuser=None,
                            users=[simulator, service, alerts, *gateways.values()])
    broker.start()
    return broker, BrokerLogins(broker.url_for(simulator.name), broker.url_for(service.name),
                                {g: broker.url_for(u.name) for g, u in gateways.items()},
                                broker.url_for(alerts.name))


async def _run(settings: Settings, data_dir: Path, logins: BrokerLogins, keys: DemoKeys,
               scenario: str, speed: float, host: str, port: int, seed: int) -> None:
    api = create_app(settings)
    server = _Service(uvicorn.Config(api, host=host, port=port, log_level="warning",
                                     timeout_graceful_shutdown=5))
    serving = asyncio.create_task(server.serve(), name="service")
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.05)
    state = runtimes_of(api)
    index = state.index
    tokens = state.tokens
    service_url = f"http://{host}:{port}"
    people = await _people_logins(state.users, index)
    _print_welcome(service_url, people, data_dir, logins.alerts, scenario, speed)

    async with LiveSimulation(scenario, speed=speed, seed=seed, opcua_port=free_port(),
                              mqtt_url=logins.simulator, run_forever=speed == 1.0,
                              ground_truth_path=data_dir / "ground-truth.jsonl") as sim:
        gateways = []
        for gateway_id, site in SITE_GATEWAYS.items():
            series = sorted(k for k in index.gateway_series(gateway_id)
                            if k.startswith(site + "/"))
            token, _ = await tokens.create(name=f"demo {gateway_id}", org=_owner(index, gateway_id),
                                           role=Role.GATEWAY, gateway=gateway_id)
            writable = [edge_limits(p, index.cluster) for p in index.cluster.writable_points
                        if p.gateway == gateway_id]
            config = gateway_config(gateway_id, sim, series, service_url=service_url,
                                    token=token, mqtt_url=logins.gateways[gateway_id],
                                    folder=data_dir / "gateways", writable_nodes=writable,
                                    signing_key=keys.gateways[gateway_id],
                                    trusted_keys=[keys.service_public])
            gateways.append(Gateway(config))
        tasks = [asyncio.create_task(g.run(), name=g.config.uplink.gateway_id) for g in gateways]
        for task in tasks:
            task.add_done_callback(_report_crash)
        try:
            asked = asyncio.create_task(server.asked.wait(), name="Ctrl-C")
            await asyncio.wait({serving, asked}, return_when=asyncio.FIRST_COMPLETED)
            asked.cancel()
        finally:
            for task in tasks:
                await cancel_and_wait(task)
    server.should_exit = True
    await serving


class _Service(uvicorn.Server):
    """uvicorn, stopped by the demo: Ctrl-C (or SIGTERM) stops the gateways and the
    simulated plants first and the service after them, so that no part reports losing
    the service on the way out. A second Ctrl-C stops the service at once."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.asked = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if self.asked.is_set():
            self.should_exit = self.force_exit = True
        self.asked.set()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped", task.get_name(), exc_info=task.exception())


def _owner(index: ClusterIndex, gateway_id: str) -> str:
    return next(g.owner for g in index.cluster.gateways if g.id == gateway_id)


async def _people_logins(users: UserStore, index: ClusterIndex) -> dict[str, tuple[str, str]]:
    """A person per organisation (named as the organisation) with a fresh password, to log
    in to the dashboard as that company: org -> (username, password)."""
    out = {}
    for org in index.cluster.organisations:
        role = Role.FACILITATOR if index.is_facilitator(org.id) else Role.OPERATOR
        password = secrets.token_urlsafe(12)
        if not await users.set_password(org.id, password):  # a demo run before made it
            await users.create(username=org.id, org=org.id, role=role, password=password,
                               display_name=f"{org.name} (demo)")
        out[org.id] = (org.id, password)
    return out


def _print_welcome(url: str, people: dict[str, tuple[str, str]], data_dir: Path,
                   mqtt_url: str, scenario: str, speed: float) -> None:
    lines = [f"heatlink demo: scenario {scenario!r} at {speed:g}x, data in {data_dir}",
             f"alert e-mails land in {data_dir / 'mail' / 'new'}; MQTT alerts on {mqtt_url}",
             f"dashboard and API: {url}/   (API docs: {url}/docs)",
             "log in as one company's person, username and password (new at every start; "
             "each sees only what its contracts share):"]
    lines += [f"  {user:22} {password}" for user, password in people.values()]
    (data_dir / "demo-logins.txt").write_text("\n".join(lines[2:]) + "\n")
    typer.echo("\n".join(lines) + "\nCtrl-C stops everything.")
