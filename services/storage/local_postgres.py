"""A private PostgreSQL server in a data folder, for the demo and the tests.

It listens on no TCP port: only on a Unix socket inside its data folder, which PostgreSQL
keeps at mode 0700, so only the user running it (and root) can reach it. Another local
user can neither connect over 127.0.0.1 nor enter the folder, even though the socket
trusts whoever reaches it.

It prefers TimescaleDB: the machine's own PostgreSQL 17 with the extension, or Debian 13's
packages in a debootstrap folder made by ``deploy/timescaledb/install-rootfs.sh`` (run with
chroot, since a Debian 12 machine cannot install them natively). Without either it falls
back to whatever PostgreSQL binaries the machine has, and the schema works without the
extension.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import random
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from services.storage.exit_guard import ExitGuard

DEFAULT_TSDB_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
    "heatlink" / "trixie-timescaledb"
INSTALL_SCRIPT = (Path(__file__).resolve().parents[2]
                  / "deploy" / "timescaledb" / "install-rootfs.sh")


class LocalPostgresError(RuntimeError):
    pass


@dataclass(frozen=True)
class PostgresInstall:
    """Where a PostgreSQL installation lives. ``root`` is ``/`` or a chroot folder."""

    root: Path
    bindir: str
    timescaledb: bool

    @property
    def chrooted(self) -> bool:
        return self.root != Path("/")

    def host_path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")


def _has_timescaledb(root: Path, bindir: str) -> bool:
    version = Path(bindir).parent.name
    return (root / f"usr/share/postgresql/{version}/extension/timescaledb.control"
            .lstrip("/")).exists()


def find_install(*, want_timescaledb: bool = True) -> PostgresInstall | None:
    """The best PostgreSQL on this machine, TimescaleDB first when ``want_timescaledb``."""
    candidates: list[PostgresInstall] = []
    roots = [Path(os.environ.get("HEATLINK_TSDB_ROOT", DEFAULT_TSDB_ROOT)), Path("/")]
    for root in roots:
        if root != Path("/") and not (root / ".heatlink-ready").exists():
            continue
        for postgres in sorted(glob.glob(str(root / "usr/lib/postgresql/*/bin/postgres")),
                               key=lambda p: int(Path(p).parent.parent.name), reverse=True):
            bindir = "/" + str(Path(postgres).parent.relative_to(root))
            candidates.append(PostgresInstall(root, bindir, _has_timescaledb(root, bindir)))
    if want_timescaledb:
        for install in candidates:
            if install.timescaledb:
                return install
    return candidates[0] if candidates else None


def install_timescaledb() -> PostgresInstall | None:
    """Run the install script (root needed on Debian 12) and return the install it made."""
    if not INSTALL_SCRIPT.exists():
        return None
    result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0:
        raise LocalPostgresError(f"installing TimescaleDB failed:\n{result.stderr[-2000:]}")
    return find_install(want_timescaledb=True)


# Ports picked from below the kernel's range for outgoing connections. A port the kernel
# hands out as free (bind to 0) comes from that range, and any connection made before the
# server binds it (seconds later, for a service that migrates its database first) may be
# given it as its own: "address already in use". Below the range only another server can
# take it, and the pick is random among thousands.
LOWEST_PORT = 20_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# A port handed out is not handed out again for this long, by any process of this user:
# between a pick and its server's bind (seconds, on a loaded machine) the port still looks
# free, and with three test workers each holding a few such picks, two picks of one port
# came about once a full run ("address already in use" at an OPC UA plant's start).
RESERVED_S = 600.0
RESERVATIONS = Path(tempfile.gettempdir()) / f"heatlink-ports-{os.getuid()}"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now, below the outgoing connections' range,
    and not handed out by this function in the last `RESERVED_S` seconds."""
    below = _ephemeral_low()
    for _ in range(100):
        port = random.randint(LOWEST_PORT, below - 1) if below > LOWEST_PORT + 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = sock.getsockname()[1]
        if port == 0 or _reserve(found):  # (the kernel's own pick needs no reservation)
            return found
    raise OSError("no free port found below the ephemeral range")


def _reserve(port: int) -> bool:
    """Mark `port` as handed out; False when it was, less than `RESERVED_S` ago. One file
    per port, checked and written under a lock shared by every process of the user."""
    try:
        RESERVATIONS.mkdir(mode=0o700, exist_ok=True)
        with open(RESERVATIONS / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mark = RESERVATIONS / str(port)
            with contextlib.suppress(FileNotFoundError):
                if time.time() - mark.stat().st_mtime < RESERVED_S:
                    return False
            mark.touch()  # (a mark older than RESERVED_S gets the time of now)
            return True
    except OSError:
        return True  # no folder to keep marks in: pick as before, without them


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux: the kernel's pick


class LocalPostgres:
    """One server: ``start()`` initialises the folder on first use and returns its URL."""

    def __init__(self, install: PostgresInstall, name: str, port: int | None = None,
                 *, durable: bool = True, data_dir: Path | None = None) -> None:
        self.install = install
        self.port = port or free_port()
        self.durable = durable
        # Inside a chroot the data folder must live under its root.
        if install.chrooted:
            self.data_dir = f"/var/lib/heatlink/{name}"
        elif data_dir is not None:
            self.data_dir = str(data_dir.resolve())
        else:
            base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share"))
            self.data_dir = str(base / "heatlink" / name)
        self._guard: ExitGuard | None = None

    @property
    def socket_dir(self) -> Path:
        """Where the server's socket is, as this process sees it (the data folder)."""
        return self._host_data_dir()

    @property
    def url(self) -> str:
        return (f"postgresql://postgres@/postgres?host={quote(str(self.socket_dir), safe='/')}"
                f"&port={self.port}")

    def _command(self, *args: str) -> list[str]:
        binary = f"{self.install.bindir}/{args[0]}"
        as_root = os.geteuid() == 0
        if self.install.chrooted:
            return ["chroot", "--userspec=postgres:postgres", str(self.install.root),
                    binary, *args[1:]]
        if as_root:
            return ["runuser", "-u", "postgres", "--", binary, *args[1:]]
        return [binary, *args[1:]]

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._command(*args), capture_output=True, text=True)
        if result.returncode != 0:
            raise LocalPostgresError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}")

    def _prepare_chroot(self) -> None:
        proc = self.install.host_path("/proc")
        if not (proc / "self").exists():
            subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
        shm = self.install.host_path("/dev/shm")
        shm.mkdir(parents=True, exist_ok=True)
        shm.chmod(0o1777)

    def _host_data_dir(self) -> Path:
        if self.install.chrooted:
            return self.install.host_path(self.data_dir)
        return Path(self.data_dir)

    def _ensure_data_dir(self) -> None:
        host_data = self._host_data_dir()
        if (host_data / "PG_VERSION").exists():
            return
        host_data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Root runs the server as user postgres, who must own the folder it writes.
            if not self.install.chrooted:
                shutil.chown(host_data.parent, "postgres", "postgres")
            self._chown_postgres(host_data)
        self._run("initdb", "-D", self.data_dir, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=reject", "-E", "UTF8",
                  "--locale=C.UTF-8" if self.install.chrooted else "--locale=C")
        settings = {
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "timescaledb.telemetry_level": "off" if self.install.timescaledb else None,
            "shared_preload_libraries": "'timescaledb'" if self.install.timescaledb else None,
            "fsync": None if self.durable else "off",
            "synchronous_commit": None if self.durable else "off",
            "full_page_writes": None if self.durable else "off",
        }
        with (host_data / "postgresql.conf").open("a") as conf:
            conf.write("\n# heatlink local server\n")
            for key, value in settings.items():
                if value is not None:
                    conf.write(f"{key} = {value}\n")

    def _chown_postgres(self, path: Path) -> None:
        if self.install.chrooted:
            # The folder's postgres user, which need not have the host's uid.
            uid, gid = (subprocess.run(
                ["chroot", str(self.install.root), "id", flag, "postgres"],
                capture_output=True, text=True, check=True).stdout.strip() for flag in ("-u", "-g"))
            os.chown(path, int(uid), int(gid))
        else:
            shutil.chown(path, "postgres", "postgres")

    def _lock_down(self) -> None:
        """Only the socket, only in the 0700 data folder: also for folders made by older
        versions, which listened on 127.0.0.1 and trusted every local user there."""
        host_data = self._host_data_dir()
        host_data.chmod(0o700)
        (host_data / "pg_hba.conf").write_text(  # rewritten in place: owner and mode stay
            "# heatlink: the Unix socket in this 0700 folder only; no TCP at all\n"
            "local all all trust\n")
        socket_path = host_data / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) > 100:
            raise LocalPostgresError(
                f"the socket path {socket_path} is longer than Unix sockets allow; use a "
                "shorter HEATLINK_DATA_DIR (or XDG_CACHE_HOME for the TimescaleDB folder)")

    def start(self) -> str:
        if self.install.chrooted:
            self._prepare_chroot()
        if self._host_data_dir().joinpath("postmaster.pid").exists():
            # A run that was killed left its server behind; stop it rather than fail.
            self.stop()
        # Armed first: a process that dies while the server is made or starts must not
        # leave it (or a throwaway folder) behind.
        self._guard = ExitGuard(self._cleanup_command())
        self._ensure_data_dir()
        self._lock_down()
        log = f"{self.data_dir}/server.log"
        # Command-line settings win over postgresql.conf, old folders included.
        options = (f"-p {self.port} -c listen_addresses= "
                   f"-c unix_socket_directories={shlex.quote(self.data_dir)} "
                   "-c unix_socket_permissions=0700")
        self._run("pg_ctl", "-D", self.data_dir, "-l", log, "-w", "-t", "60",
                  "-o", options, "start")
        return self.url

    def _cleanup_command(self) -> str:
        """What runs if this process dies without stopping the server: an immediate stop
        (the postmaster was detached by pg_ctl and would run on), and for a throwaway
        server its folder too."""
        stop = shlex.join(self._command("pg_ctl", "-D", self.data_dir, "-m", "immediate",
                                        "-w", "stop"))
        if self.durable:
            return stop
        return f"{stop}; rm -rf {shlex.quote(str(self._host_data_dir()))}"

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """`immediate` is a crash as far as clients can tell (tests of outages use it)."""
        subprocess.run(self._command("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop"),
                       capture_output=True)
        if self._guard is not None:
            self._guard.disarm()
            self._guard = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self._host_data_dir(), ignore_errors=True)
