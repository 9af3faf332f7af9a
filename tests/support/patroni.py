"""A PostgreSQL + TimescaleDB cluster under Patroni with one etcd, for the failover test.

Everything runs from the folder `deploy/patroni/install.sh` prepared (Debian 13's packages,
natively or in a chroot), as the `postgres` user, on free ports of 127.0.0.1. Patroni runs
with `synchronous_mode`, as `deploy/patroni/patroni.yml` does: a commit is acknowledged only
once the standby has it, so a promoted standby holds every acknowledged reading.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from services.storage.local_postgres import free_port

INSTALL = Path(__file__).resolve().parents[2] / "deploy" / "patroni" / "install.sh"
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "patroni" / "patroni.yml"


def install_root() -> Path:
    out = subprocess.run(["bash", str(INSTALL)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Node:
    name: str
    port: int
    api_port: int
    data_dir: str  # as the node sees it (inside the root)
    process: subprocess.Popen[bytes] | None = None

    def role(self) -> str | None:
        """What Patroni's REST API says this node is, or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/patroni",
                                        timeout=1) as answer:
                state = json.load(answer)
        except (OSError, urllib.error.URLError, ValueError):
            return None
        if state.get("state") != "running":
            return None
        return str(state.get("role"))


@dataclass
class PatroniCluster:
    root: Path
    folder: str  # inside the root
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)
    etcd: subprocess.Popen[bytes] | None = None

    def host(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    def _command(self, *args: str) -> list[str]:
        if self.root == Path("/"):
            return ["runuser", "-u", "postgres", "--", *args]
        return ["chroot", "--userspec=postgres:postgres", str(self.root), *args]

    def _spawn(self, log_name: str, *args: str) -> subprocess.Popen[bytes]:
        # A session of its own: killing the node kills Patroni and its postmaster together.
        with open(self.host(f"{self.folder}/{log_name}.log"), "ab") as log:
            return subprocess.Popen(self._command(*args), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        """The multi-host URL the service uses: libpq's rule, the host that takes writes."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        return f"postgresql://postgres:postgres@{hosts}/postgres?target_session_attrs=read-write"

    def start(self, size: int = 2) -> None:
        folder = self.host(self.folder)
        folder.mkdir(parents=True)
        shutil.chown(folder, "postgres", "postgres") if self.root == Path("/") else \
            subprocess.run(["chroot", str(self.root), "chown", "postgres:postgres",
                            self.folder], check=True)
        self.etcd = self._spawn(
            "etcd", "etcd", "--name", "e1", "--data-dir", f"{self.folder}/etcd",
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster", f"e1=http://127.0.0.1:{self.etcd_peer_port}",
            "--log-level", "warn")
        template = yaml.safe_load(TEMPLATE.read_text())
        for i in range(size):
            node = Node(f"pg{i + 1}", free_port(), free_port(), f"{self.folder}/pg{i + 1}")
            self.nodes.append(node)
            config = self._config(template, node)
            path = f"{self.folder}/{node.name}.yml"
            self.host(path).write_text(yaml.safe_dump(config))
            node.process = self._spawn(node.name, "patroni", path)

    def _config(self, template: dict, node: Node) -> dict:
        config = json.loads(json.dumps(template))
        config["scope"] = f"heatlink-{Path(self.folder).name}"
        config["name"] = node.name
        config["restapi"] = {"listen": f"127.0.0.1:{node.api_port}",
                             "connect_address": f"127.0.0.1:{node.api_port}"}
        config["etcd3"] = {"hosts": f"127.0.0.1:{self.etcd_port}"}
        pg = config["postgresql"]
        pg.update(listen=f"127.0.0.1:{node.port}", connect_address=f"127.0.0.1:{node.port}",
                  data_dir=f"{node.data_dir}/data", pgpass=f"{node.data_dir}.pgpass")
        pg.setdefault("parameters", {})["unix_socket_directories"] = self.folder
        return config

    def wait_until_serving(self, replicas: int, timeout_s: float = 120.0) -> Node:
        """Until the live nodes are one primary and `replicas` synchronous standbys
        streaming from it (Patroni offers no event to await); returns the primary."""
        deadline = time.monotonic() + timeout_s
        while True:
            live = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
            roles = {n.name: n.role() for n in live}
            primaries = [n for n in live if roles[n.name] == "primary"]
            if (len(primaries) == 1 and sum(r == "replica" for r in roles.values()) == replicas
                    and self._sync_standbys(primaries[0]) >= min(replicas, 1)):
                return primaries[0]
            if self.etcd is not None and self.etcd.poll() is not None:
                raise AssertionError(f"etcd exited; see {self.host(self.folder)}/etcd.log")
            if not live and not any(n.process is None for n in self.nodes):
                last = self.host(f"{self.folder}/{self.nodes[0].name}.log").read_text()
                raise AssertionError("every Patroni node exited; the first one's log ends:\n"
                                     + "\n".join(last.splitlines()[-5:]))
            if time.monotonic() > deadline:
                raise AssertionError(f"Patroni roles {roles} after {timeout_s} s; logs in "
                                     f"{self.host(self.folder)}")
            time.sleep(0.2)

    @staticmethod
    def _sync_standbys(primary: Node) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{primary.api_port}/cluster",
                                        timeout=1) as answer:
                members = json.load(answer)["members"]
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return 0
        return sum(m.get("role") == "sync_standby" and m.get("state") == "streaming"
                   for m in members)

    def kill(self, node: Node) -> None:
        """The server dies: Patroni and its PostgreSQL, SIGKILL, no goodbye."""
        assert node.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()
        pidfile = self.host(f"{node.data_dir}/data/postmaster.pid")
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                self.kill(node)
        if self.etcd is not None and self.etcd.poll() is None:
            os.killpg(self.etcd.pid, signal.SIGKILL)
            self.etcd.wait()
        # Postmasters left by a killed Patroni, and their backends.
        subprocess.run(["pkill", "-KILL", "-f", "--", f"{self.folder}/pg"], check=False)
        shutil.rmtree(self.host(self.folder), ignore_errors=True)


@contextlib.contextmanager
def patroni_cluster(size: int = 2) -> Iterator[PatroniCluster]:
    root = install_root()
    cluster = PatroniCluster(root, f"/var/tmp/heatlink-patroni-{uuid.uuid4().hex[:8]}")
    try:
        cluster.start(size)
        yield cluster
    finally:
        cluster.stop()
