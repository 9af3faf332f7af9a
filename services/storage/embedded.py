"""The database to use: the configured URL, or a private server started for this process."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from services.settings import Settings
from services.storage.local_postgres import (
    LocalPostgres,
    LocalPostgresError,
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
    data_dir = settings.data_dir.resolve() / "postgres"
    name = "data-" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    server = LocalPostgres(install, name, data_dir=data_dir)
    url = server.start()
    log.info("private PostgreSQL %s at %s (data in %s)",
             "with TimescaleDB" if install.timescaledb else "without TimescaleDB",
             url, server.data_dir)
    try:
        yield url
    finally:
        server.stop()
