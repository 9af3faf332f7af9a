"""What every service benchmark stands on: a database and `heatlink serve` as its own process.

Benchmarks measure the service as it runs in production (one worker process on its own
database); each script only adds its load and its figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.storage.local_postgres import LocalPostgres, find_install, free_port


@contextmanager
def bench_database() -> Iterator[str]:
    """``HEATLINK_DATABASE_URL``, or a private server that is removed afterwards."""
    given = os.environ.get("HEATLINK_DATABASE_URL")
    if given:
        yield given
        return
    install = find_install()
    if install is None:
        raise SystemExit("no PostgreSQL found; set HEATLINK_DATABASE_URL")
    server = LocalPostgres(install, f"bench-{uuid.uuid4().hex[:8]}")
    url = server.start()
    print(f"database: private server, TimescaleDB {install.timescaledb}")
    try:
        yield url
    finally:
        server.destroy()


@dataclass
class BenchService:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]

    def token(self, org: str, role: str, gateway: str | None = None) -> str:
        args = [sys.executable, "-m", "heatlink.cli", "token", "create", "--org", org,
                "--role", role, "--name", "bench"] + (["--gateway", gateway] if gateway else [])
        return subprocess.run(args, env=self.env, capture_output=True, text=True,
                              check=True).stdout.strip()

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def bench_service(database_url: str, cluster_file: Path,
                  env: dict[str, str] | None = None) -> Iterator[BenchService]:
    """`heatlink serve` on a free port, ready (migrated, cluster loaded) when yielded;
    ``env`` adds settings."""
    port = free_port()
    env = {**os.environ, "HEATLINK_DATABASE_URL": database_url,
           "HEATLINK_CLUSTER_FILE": str(cluster_file), "HEATLINK_LOG_LEVEL": "WARNING",
           **(env or {})}
    process = subprocess.Popen([sys.executable, "-m", "heatlink.cli", "serve", "--port",
                                str(port)], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process)
        yield BenchService(process, url, env)
    finally:
        process.terminate()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the service did not become ready within 60 s")
