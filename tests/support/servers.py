"""Real servers for the tests: TimescaleDB and Mosquitto on free ports of 127.0.0.1.

Where ``HEATLINK_TEST_DATABASE_URL`` or ``HEATLINK_TEST_MQTT_URL`` is set, that server is
used instead of starting one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from services.storage.local_postgres import LocalPostgres, find_install, free_port


def require_timescaledb() -> bool:
    return os.environ.get("HEATLINK_REQUIRE_TIMESCALEDB") == "1"


@contextmanager
def postgres_server() -> Iterator[str]:
    """URL of a server (maintenance database) for the test session."""
    given = os.environ.get("HEATLINK_TEST_DATABASE_URL")
    if given:
        yield given
        return
    install = find_install(want_timescaledb=True)
    if install is None:
        raise RuntimeError("no PostgreSQL found: run deploy/timescaledb/install-rootfs.sh "
                           "or set HEATLINK_TEST_DATABASE_URL")
    if require_timescaledb() and not install.timescaledb:
        raise RuntimeError("HEATLINK_REQUIRE_TIMESCALEDB=1 but no TimescaleDB install was found")
    server = LocalPostgres(install, f"test-{uuid.uuid4().hex[:8]}", durable=False)
    server.start()
    try:
        yield server.url
    finally:
        server.destroy()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s")


class Mosquitto:
    """A broker process on a free port; ``restart()`` keeps the port and its persistence."""

    def __init__(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto")
        self.binary = binary
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="heatlink-mosquitto-"))
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "log_dest stderr\n"
        )
        if os.geteuid() == 0:
            shutil.chown(self.folder, "mosquitto", "mosquitto") if _user_exists("mosquitto") \
                else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
