"""The service, started for real: in this process with uvicorn, or as a `heatlink serve`
process that a test can kill."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from heatlink.clock import Clock
from services.access.principal import Role, Scope
from services.access.tokens import TokenStore
from services.app import create_app
from services.settings import Settings
from services.storage.local_postgres import free_port
from services.storage.migrate import apply_migrations
from tests.support.servers import wait_for_port


@dataclass
class AppHandle:
    url: str
    app: FastAPI

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@asynccontextmanager
async def running_app(settings: Settings, clock: Clock | None = None) -> AsyncIterator[AppHandle]:
    """The app on a free port of 127.0.0.1, served by uvicorn in this event loop."""
    app = create_app(settings, clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # surfaces a startup error
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield AppHandle(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await task


async def make_token(database_url: str, org: str, role: Role, *, gateway: str | None = None,
                     scopes: list[Scope] | None = None, name: str = "test") -> str:
    await apply_migrations(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        from heatlink.clock import SystemClock

        token, _ = await TokenStore(pool, SystemClock()).create(
            name=name, org=org, role=role, scopes=scopes, gateway=gateway)
        return token
    finally:
        await pool.close()


async def make_user(database_url: str, org: str, role: Role,
                    username: str | None = None) -> tuple[str, str]:
    """A person who logs in: (username, password), the username unique per call."""
    import secrets

    from heatlink.clock import SystemClock
    from services.access.users import UserStore

    await apply_migrations(database_url)
    username = username or f"{org}-{role}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await UserStore(pool, SystemClock()).create(username=username, org=org, role=role,
                                                    password=password)
    finally:
        await pool.close()
    return username, password


class ServiceProcess:
    """`heatlink serve` in a child process on a fixed port, for kill and restart tests."""

    def __init__(self, database_url: str, *, cluster_file: Path | None = None,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, "HEATLINK_DATABASE_URL": database_url, **(env or {})}
        if cluster_file is not None:
            self.env["HEATLINK_CLUSTER_FILE"] = str(cluster_file)
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: nobody reads a pipe while the test runs, and a full one stalls
        # the service.
        self.log_path = Path(tempfile.mkstemp(prefix="heatlink-serve-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "heatlink.cli", "serve", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", self.port, timeout_s=30)
        except TimeoutError:
            self.kill()
            raise

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None
