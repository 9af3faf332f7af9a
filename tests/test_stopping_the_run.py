"""Stopping a test run leaves no database or broker behind.

A pytest of its own runs `tests/support/stopped_run.py`, which takes the session's
PostgreSQL and Mosquitto (started for that run) and waits. It is then stopped as CI or a
person would: SIGTERM (a runner's cancel, `./dev test`'s time limit), SIGINT (Ctrl-C), or
SIGKILL (nothing of the run gets to clean up; the servers' exit guards do). Afterwards
nothing may listen on the run's database or broker port, and no postmaster of it may live.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
INNER = ROOT / "tests" / "support" / "stopped_run.py"
BOUND_S = 120.0  # functional bound on each wait: past it, something is stuck


class Run:
    def __init__(self, folder: Path, sig: signal.Signals) -> None:
        self.sig = sig
        self.marker = folder / f"{sig.name}.json"
        self.log = folder / f"{sig.name}.log"
        env = {k: v for k, v in os.environ.items()
               if k not in ("HEATLINK_TEST_DATABASE_URL", "HEATLINK_TEST_MQTT_URL")}
        env["HEATLINK_STOPPED_RUN_MARKER"] = str(self.marker)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(INNER)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def holding(self) -> dict[str, Any]:
        """What the run's test holds, once it holds it."""
        deadline = asyncio.get_running_loop().time() + BOUND_S
        while not self.marker.exists() or not self.marker.read_text():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the run ended before its test began:\n{self.output()[-6000:]}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the run's test did not begin:\n{self.output()[-6000:]}")
            await asyncio.sleep(0.1)
        held: dict[str, Any] = json.loads(self.marker.read_text())
        return held

    async def stop(self) -> int:
        self.process.send_signal(self.sig)
        deadline = asyncio.get_running_loop().time() + BOUND_S
        while (code := self.process.poll()) is None:
            if asyncio.get_running_loop().time() > deadline:
                self.process.kill()
                raise AssertionError(
                    f"{self.sig.name} did not end the run:\n{self.output()[-6000:]}")
            await asyncio.sleep(0.1)
        return code


def port_of(url: str) -> int:
    parts = urlsplit(url)
    # The private database is reached by its Unix socket: host and port are in the query.
    port = parts.port or int(parse_qs(parts.query).get("port", ["0"])[0])
    assert port, url
    return port


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def database_listening(url: str) -> bool:
    """The database's socket answers (TCP when the URL names a host, else its Unix socket)."""
    parts = urlsplit(url)
    if parts.hostname:
        return listening(port_of(url))
    socket_dir = parse_qs(parts.query)["host"][0]
    with socket.socket(socket.AF_UNIX) as sock:
        return sock.connect_ex(f"{socket_dir}/.s.PGSQL.{port_of(url)}") == 0


def postmasters(port: int) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmdline = p.info["cmdline"] or []
        if any(part.endswith("/postgres") for part in cmdline[:1]) and str(port) in cmdline:
            found.append(p.pid)
    return found


async def gone(held: dict[str, Any], run: Run) -> None:
    """Until the run's servers are gone (at once after a clean stop; a killed run's exit
    guards need a moment)."""
    db, broker = port_of(held["database_url"]), port_of(held["mqtt_url"])
    deadline = asyncio.get_running_loop().time() + BOUND_S
    db_url = held["database_url"]
    while database_listening(db_url) or listening(broker) or postmasters(db):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"after {run.sig.name}: database {db_url} listening: {database_listening(db_url)}, "
                f"postmasters {postmasters(db)}, broker port {broker} listening: "
                f"{listening(broker)}\n{run.output()[-6000:]}")
        await asyncio.sleep(0.1)


async def test_a_stopped_run_leaves_no_database_or_broker_behind(tmp_path: Path) -> None:
    runs = [Run(tmp_path, sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)]
    try:
        held = [await run.holding() for run in runs]
        codes = [await run.stop() for run in runs]
        for run, servers in zip(runs, held, strict=True):
            await gone(servers, run)
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
    term, interrupt, _ = runs
    assert codes[0] != 0
    assert codes[1] != 0
    assert codes[2] == -signal.SIGKILL
    # SIGTERM says where the run was before it stops it.
    assert "SIGTERM: stopping the test run; where it was" in term.output()
    assert "test_holds_the_database_and_the_broker" in term.output()
    for run in (term, interrupt):
        assert "KeyboardInterrupt" in run.output(), run.output()[-6000:]
