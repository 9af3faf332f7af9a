"""The database to use: the configured URL, or a private server started for this process.

The private server stops with the process, whether it ends by Ctrl-C (SIGINT) or by
SIGTERM (systemd, docker stop, kill): uvicorn handles both for a graceful shutdown and
then raises the signal again, and SIGTERM's default action would end the process without
running any cleanup, leaving the server behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from services.settings import Settings
from services.storage.local_postgres import (
    LocalPostgres,
    LocalPostgresError,
    PostgresInstall,
    find_install,
    install_timescaledb,
)

log = logging.getLogger(__name__)


@contextmanager
def database_for(settings: Settings) -> Iterator[str]:
    """Yield a database URL; when none is configured, run a private server meanwhile."""
    if settings.database_url:
        yield settings.database_url
        return
    install = find_install(want_timescaledb=True)
    if (install is None or not install.timescaledb) and os.geteuid() == 0:
        try:
            install = install_timescaledb() or install
        except LocalPostgresError as exc:
            log.warning("could not install TimescaleDB, continuing without it: %s", exc)
    if install is None:
        raise LocalPostgresError(
            "no PostgreSQL on this machine: set HEATLINK_DATABASE_URL, or run "
            "deploy/timescaledb/install-rootfs.sh (as root) to install one")
    server = private_server(settings, install)
    with _sigterm_unwinds():
        try:
            url = server.start()
            log.info("private PostgreSQL %s on the socket in %s (only this user can reach it)",
                     "with TimescaleDB" if install.timescaledb else "without TimescaleDB",
                     server.socket_dir)
            yield url
        finally:
            server.stop()


def private_server(settings: Settings, install: PostgresInstall) -> LocalPostgres:
    """The private server of ``settings.data_dir`` (one per data folder)."""
    data_dir = settings.data_dir.resolve() / "postgres"
    name = "data-" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return LocalPostgres(install, name, data_dir=data_dir)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises SystemExit meanwhile, so ``finally`` blocks run (as for Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
