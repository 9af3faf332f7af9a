"""`heatlink demo` as a new user runs it, checked from outside.

The demo runs as its own process with a data folder and ports of its own, its own
Mosquitto and mail sink, on the test server's database (a private PostgreSQL would cost
an initdb per run). At `SPEED` times real time the furnace trips a few seconds in; the
smolt farm must then hear of it by webhook (a receiver of this test, named with
`--webhook-url`), by e-mail (a file in `<data dir>/mail/new`) and by MQTT (a subscriber on
the demo's broker), and its dashboard must serve live values. Ctrl-C then stops all of it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.storage.local_postgres import free_port
from tests.alerts.support import mqtt_subscriber, webhook_receiver

pytestmark = pytest.mark.slow

SPEED = 30  # the demo scenario's trip at 180 sim s comes 6 s after the plants start
FARM = "fjordsmolt"
FARM_MAIL = "vakt@fjordsmolt.example"  # the farm's first contact in the example cluster
FARM_TOPIC = "heatlink/fjordsmolt/alerts"
TANK_TEMP = "glomfjord/smoltfarm/tank1/temp"
TRIP = "Heat supply lost upstream"  # how the farm's alert about the trip is titled
BOUND_S = 120.0  # functional bound on each wait: the demo is stuck, not slow, past it


async def until(check: Callable[[], Awaitable[Any]], what: str, demo: Demo) -> Any:
    """Poll another process's output (files, HTTP) until `check` returns something."""
    deadline = asyncio.get_running_loop().time() + BOUND_S
    while asyncio.get_running_loop().time() < deadline:
        if (found := await check()) is not None and found is not False:
            return found
        if demo.process.poll() is not None:
            raise AssertionError(f"the demo stopped while waiting for {what}:\n{demo.tail()}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {BOUND_S} s: {what}\n{demo.tail()}")


class Demo:
    def __init__(self, data_dir: Path, database_url: str, webhook_url: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / "demo.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HEATLINK_ALERTS_", "HEATLINK_CONTROL_"))
               and k != "HEATLINK_MQTT_URL"}
        env.update(HEATLINK_DATA_DIR=str(data_dir), HEATLINK_DATABASE_URL=database_url)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "heatlink.cli", "demo", "--speed", str(SPEED),
                 "--port", str(self.port), "--webhook-url", webhook_url],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.stopped_at = 0  # the log's length when Ctrl-C came

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def said_while_stopping(self) -> list[str]:
        """The warnings and errors logged after Ctrl-C."""
        with self.log.open("rb") as log:
            log.seek(self.stopped_at)
            lines = log.read().decode(errors="replace").splitlines()
        return [line for line in lines if " WARNING " in line or " ERROR " in line
                or "Traceback" in line]

    async def broker_url(self) -> str | None:
        found = re.search(r"MQTT alerts on (mqtt://\S+)", self.tail(100_000))
        return found.group(1) if found else None

    async def logins(self) -> dict[str, str] | None:
        """username -> password, as the welcome prints them."""
        path = self.data_dir / "demo-logins.txt"
        if not path.exists():
            return None
        return dict(line.split() for line in path.read_text().splitlines()
                    if line.startswith("  "))

    def mails(self) -> list[EmailMessage]:
        folder = self.data_dir / "mail" / "new"
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(folder.iterdir())] if folder.exists() else []

    def stop(self) -> int:
        """Ctrl-C, as the demo's welcome says: a terminal sends it to the whole foreground
        process group, the demo's children included (it runs in a group of its own)."""
        if self.process.poll() is None:
            self.stopped_at = self.log.stat().st_size
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired as exc:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"the demo did not stop on Ctrl-C:\n{self.tail()}") from exc
        return self.process.returncode


def about_the_trip(notifications: list[dict[str, Any]]) -> bool:
    return any(TRIP in str(n.get("alert", {}).get("title", "")) for n in notifications)


def titles(messages: list[dict[str, Any]]) -> list[str]:
    return [str(n.get("alert", {}).get("title", "")) for m in messages
            for n in m["notifications"]]


def mail_text(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    return body.get_content() if body is not None else ""


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_the_demo_tells_the_farm_of_the_trip_on_every_channel_and_shows_live_values(
        fresh_database_url: str, tmp_path: Path) -> None:
    async with webhook_receiver() as hooks:
        demo = Demo(tmp_path / "var", fresh_database_url, hooks.url("/hooks"))
        try:
            broker = await until(demo.broker_url, "the welcome naming the broker", demo)
            async with mqtt_subscriber(broker, FARM_TOPIC) as mqtt_in:
                logins = await until(demo.logins, "the companies' logins", demo)

                def farm_hooks() -> list[dict[str, Any]]:
                    return [r.json for r in hooks.at("/hooks") if r.json["org"] == FARM]

                async def hooked() -> bool:
                    return any(about_the_trip(h["notifications"]) for h in farm_hooks())

                async def mailed() -> bool:
                    return any(FARM_MAIL in str(m["To"]) and TRIP in mail_text(m)
                               for m in demo.mails())

                def farm_mqtt() -> list[dict[str, Any]]:
                    return [json.loads(payload) for _, payload, _ in mqtt_in.items]

                async def published() -> bool:
                    return any(about_the_trip(m["notifications"]) for m in farm_mqtt())

                await until(hooked, "the farm's webhook about the trip", demo)
                await until(mailed, f"an e-mail to {FARM_MAIL} about the trip", demo)
                await until(published, f"an MQTT message on {FARM_TOPIC} about the trip", demo)

                # The dashboard's state API, logged in as the farm's person with the
                # printed password: the tank's temperature, and a newer one a moment later.
                async with httpx.AsyncClient(base_url=demo.url, timeout=30) as client:
                    login = await client.post("/v1/session", json={
                        "username": FARM, "password": logins[FARM]})
                    assert login.status_code == 200, login.text
                    assert login.json()["org"] == FARM
                    async def tank_ts() -> str | None:
                        answer = await client.get("/v1/dashboard")
                        assert answer.status_code == 200, answer.text
                        latest = answer.json()["latest"].get(TANK_TEMP)
                        return None if latest is None else str(latest["ts"])

                    first = await until(tank_ts, "the tank's temperature on the dashboard",
                                        demo)

                    async def newer() -> bool:
                        return (await tank_ts() or "") > first
                    await until(newer, "a newer tank temperature on the dashboard", demo)

                # What the farm really received: the README promises one alert. The trip
                # is seen at the furnace; HX-1's disruption, the supply band and the tank
                # that follow are the same episode, grouped under it.
                mails = [m for m in demo.mails() if FARM_MAIL in str(m["To"])]
                print(f"farm received {len(farm_hooks())} webhooks, {len(mails)} e-mails "
                      f"{[str(m['Subject']) for m in mails]}, {len(farm_mqtt())} MQTT "
                      f"messages; webhook alerts: {titles(farm_hooks())}")
                # The webhook address is every company's: count the farm's own alerts.
                farm_notes = [n for h in hooks.at("/hooks") for n in h.json["notifications"]
                              if n.get("alert", {}).get("org") == FARM]
                assert [n["event"] for n in farm_notes] == ["raised"], titles(farm_hooks())
                assert TRIP in farm_notes[0]["alert"]["title"]
        finally:
            code = demo.stop()
        assert code == 0, demo.tail()
        # Stopping is no outage: every part stops before the broker and the database it
        # uses, so none of them reports losing it.
        assert demo.said_while_stopping() == [], demo.tail()
        broker_port = int(broker.rsplit(":", 1)[1])
        assert not listening(broker_port), "the demo's Mosquitto outlived it"
        assert not listening(demo.port), "the demo's service outlived it"
