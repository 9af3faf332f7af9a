"""A private Mosquitto broker on a free port, for the demo and the tests."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from services.storage.exit_guard import ExitGuard
from services.storage.local_postgres import free_port


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s")


class LocalMosquitto:
    """A broker process; ``restart()`` keeps its port and its persisted sessions."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto")
        self.binary = binary
        self.port = port or free_port()
        self.owns_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="heatlink-mosquitto-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "mosquitto.conf"
        # Persistence keeps QoS 1 messages of persistent sessions across a restart.
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "log_dest none\n"
        )
        if os.geteuid() == 0 and _user_exists("mosquitto"):
            # Mosquitto started as root drops to this user and must write its database.
            shutil.chown(self.folder, "mosquitto", "mosquitto")
        self.process: subprocess.Popen[bytes] | None = None
        self._guard: ExitGuard | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # If this process dies without stopping the broker, the broker goes with it.
        cleanup = f"kill {self.process.pid}"
        if self.owns_folder:
            cleanup += f"; rm -rf {shlex.quote(str(self.folder))}"
        self._guard = ExitGuard(cleanup)
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        if self._guard is not None:
            self._guard.disarm()
            self._guard = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
