"""The private PostgreSQL of `serve` and `demo` (issue 12): another local user cannot reach
it (it trusted every local user on 127.0.0.1, who could mint a facilitator token with one
INSERT), and it stops when the service is stopped by a signal (SIGTERM left it running)."""

from __future__ import annotations

import asyncio
import glob
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from services.settings import Settings
from services.storage import local_postgres
from services.storage.embedded import private_server
from services.storage.local_postgres import (
    EPHEMERAL_RANGE,
    LOWEST_PORT,
    LocalPostgres,
    PostgresInstall,
    find_install,
    free_port,
)
from tests.support.servers import wait_for_port

PROBE = """
import socket, sys
out = []
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    out.append("unix:connected")
except OSError as exc:
    out.append("unix:" + type(exc).__name__)
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5)
    out.append("tcp:connected")
except OSError as exc:
    out.append("tcp:" + type(exc).__name__)
print(" ".join(out))
"""


def _install_outside_root() -> PostgresInstall | None:
    """The machine's own PostgreSQL, whose data folder can sit where anyone may look: then
    only the folder's own mode keeps a stranger out, which is what this test is about."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        return None
    return PostgresInstall(Path("/"), str(Path(found[-1]).parent), False)


@pytest.fixture
def stranger() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second local user (useradd)")
    name = f"hlprobe{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


async def _listen_addresses(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        value: str = await conn.fetchval("SHOW listen_addresses")
        return value
    finally:
        await conn.close()


def test_another_local_user_cannot_reach_the_private_database(stranger: str) -> None:
    install = _install_outside_root() or find_install()
    if install is None:
        pytest.skip("no PostgreSQL on this machine")
    parent = Path(tempfile.mkdtemp(prefix="hl-pg-"))
    parent.chmod(0o755)  # anyone may look in; the server's folder must still keep them out
    server = LocalPostgres(install, f"probe-{uuid.uuid4().hex[:8]}", durable=False,
                           data_dir=parent / "db")
    try:
        url = server.start()
        assert asyncio.run(_listen_addresses(url)) == ""  # the service's own user gets in
        folder = os.stat(server.socket_dir)
        assert stat.S_IMODE(folder.st_mode) == 0o700
        probe = subprocess.run(
            ["runuser", "-u", stranger, "--", "/usr/bin/python3", "-c", PROBE,
             str(server.socket_dir / f".s.PGSQL.{server.port}"), str(server.port)],
            capture_output=True, text=True, timeout=30)
        assert probe.stdout.split() == ["unix:PermissionError", "tcp:ConnectionRefusedError"], \
            probe.stderr
    finally:
        server.destroy()
        shutil.rmtree(parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has stopped; only its parent reaps it


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_serve_by_a_signal_stops_its_private_database(
        tmp_path: Path, sig: signal.Signals) -> None:
    install = find_install()
    if install is None:
        pytest.skip("no PostgreSQL on this machine")
    data_dir = tmp_path / "var"
    server = private_server(Settings(data_dir=data_dir), install)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HEATLINK_DATABASE_URL"}
    env.update(HEATLINK_DATA_DIR=str(data_dir), HEATLINK_ALERTS_RUN_WORKER="false")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "heatlink.cli", "serve", "--port",
                                  str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=120)
        pid = int((server.socket_dir / "postmaster.pid").read_text().split()[0])
        assert _alive(pid)
        serve.send_signal(sig)
        serve.wait(timeout=60)
        assert not _alive(pid), log.read_text()[-3000:]
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        server.destroy()


def test_a_free_port_lies_below_the_range_outgoing_connections_are_given() -> None:
    """A port the service's private database (and every test server) is started on cannot
    be handed to a connection made before its server binds it."""
    low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(LOWEST_PORT <= port < low for port in ports), sorted(ports)
    assert len(ports) == 50  # none handed out twice
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_once_handed_out_is_not_handed_out_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two servers about to start (in two test workers, say) never get the same port, even
    when the random pick falls on it twice before either binds it."""
    monkeypatch.setattr(local_postgres, "RESERVATIONS", tmp_path / "ports")
    first = free_port()
    picks = iter([first, first, *range(LOWEST_PORT, LOWEST_PORT + 100)])
    monkeypatch.setattr(random, "randint", lambda *_: next(picks))
    assert free_port() not in (first, 0)
