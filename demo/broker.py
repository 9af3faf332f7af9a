"""A private, closed Mosquitto broker on a free port, for the demo and the tests.

Closed as the shipped one is (deploy/mosquitto.conf): anonymous clients are refused, every
user logs in with a password (hashed by ``mosquitto_passwd``) and reads and writes only the
topics its ACL lists. By default a superuser (every topic) exists for tests and tools;
the demo passes its own least-privilege users instead. An optional second listener speaks
TLS with given certificate files.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from heatlink.commands import DEFAULT_TOPIC_PREFIX, command_topic, result_filter, result_topic
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


@dataclass(frozen=True)
class BrokerUser:
    """A login and the topic filters it may read (subscribe to) and write (publish to)."""

    name: str
    password: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()

    @classmethod
    def with_random_password(cls, name: str, *, read: Sequence[str] = (),
                             write: Sequence[str] = ()) -> BrokerUser:
        return cls(name, secrets.token_urlsafe(18), tuple(read), tuple(write))


@dataclass(frozen=True)
class BrokerTls:
    """Files of a TLS listener: the CA that signed the server's certificate, and both."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def service_user(prefix: str = DEFAULT_TOPIC_PREFIX, *, name: str = "heatlink-service"
                 ) -> BrokerUser:
    """The service: sends every gateway's commands, reads every gateway's results, and
    publishes alerts (each organisation's topic heatlink/<org>/alerts)."""
    return BrokerUser.with_random_password(
        name, read=(result_filter(prefix),),
        write=(command_topic("+", prefix), "heatlink/+/alerts"))


def gateway_user(gateway_id: str, prefix: str = DEFAULT_TOPIC_PREFIX, *,
                 readings: Sequence[str] = ()) -> BrokerUser:
    """A gateway: reads only its own commands and the plant topics it carries, writes only
    its own results."""
    return BrokerUser.with_random_password(
        gateway_id, read=(command_topic(gateway_id, prefix), *readings),
        write=(result_topic(gateway_id, prefix),))


class LocalMosquitto:
    """A broker process; ``restart()`` keeps its port, its users and its persisted sessions."""

    def __init__(self, folder: Path | None = None, port: int | None = None, *,
                 users: Sequence[BrokerUser] = (), tls: BrokerTls | None = None,
                 superuser: str | None = "heatlink-admin") -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto")
        self.binary = binary
        self.port = port or free_port()
        self.owns_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="heatlink-mosquitto-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        # Started as root, the broker reads its logins, ACL and certificates only after it
        # dropped to its own user, which may not enter the caller's folder (a test's private
        # temp folder, say): they live in a folder of its own, made afresh for each broker.
        self.auth = Path(tempfile.mkdtemp(prefix="heatlink-mosquitto-auth-"))
        self.tls = _copied(tls, self.auth) if tls is not None else None
        self.tls_port = free_port() if tls is not None else None
        self.config = self.folder / "mosquitto.conf"
        self.password_file = self.auth / "passwd"
        self.acl_file = self.auth / "acl"
        self.users: dict[str, BrokerUser] = {}
        self.superuser = (BrokerUser.with_random_password(superuser, read=("#",),
                                                          write=("#",))
                          if superuser is not None else None)
        for user in ([self.superuser] if self.superuser else []) + list(users):
            self.users[user.name] = user
        self.process: subprocess.Popen[bytes] | None = None
        if _drops_to_own_user():
            # Mosquitto started as root drops to this user and must write its database.
            shutil.chown(self.folder, "mosquitto", "mosquitto")
            shutil.chown(self.auth, "mosquitto", "mosquitto")
        self._write_files()
        self._guard: ExitGuard | None = None

    @property
    def url(self) -> str:
        """The superuser's URL: for tests and tools that need every topic."""
        if self.superuser is None:
            raise RuntimeError("this broker has no superuser; use url_for(user)")
        return self.url_for(self.superuser.name)

    def url_for(self, name: str, *, tls: bool = False) -> str:
        user = self.users[name]
        login = f"{quote(user.name, safe='')}:{quote(user.password, safe='')}@"
        if tls:
            if self.tls_port is None:
                raise RuntimeError("this broker has no TLS listener")
            return f"mqtts://{login}127.0.0.1:{self.tls_port}"
        return f"mqtt://{login}127.0.0.1:{self.port}"

    def add_user(self, user: BrokerUser) -> None:
        """Add or replace a login; a running broker reloads its files (SIGHUP) and the call
        returns once the new login is accepted."""
        self.users[user.name] = user
        self._write_files()
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)
            _until_login(self, user)

    def _write_files(self) -> None:
        listeners = [f"listener {self.port} 127.0.0.1"]
        if self.tls is not None:
            listeners += [f"listener {self.tls_port} 127.0.0.1",
                          f"cafile {self.tls.ca_file}", f"certfile {self.tls.cert_file}",
                          f"keyfile {self.tls.key_file}", "tls_version tlsv1.2"]
        # Persistence keeps QoS 1 messages of persistent sessions across a restart.
        self._write(self.config, "\n".join([
            "per_listener_settings false", *listeners,
            "allow_anonymous false", f"password_file {self.password_file}",
            f"acl_file {self.acl_file}", "persistence true",
            f"persistence_location {self.folder}/", "autosave_interval 1",
            "max_queued_messages 1000000", "log_dest none", ""]))
        self._write(self.password_file, "".join(f"{u.name}:{u.password}\n"
                                                for u in self.users.values()))
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([passwd, "-U", str(self.password_file)], check=True,
                       capture_output=True)  # hashes the plain passwords in place
        acl = []
        for u in self.users.values():
            acl += [f"user {u.name}", *(f"topic read {t}" for t in u.read),
                    *(f"topic write {t}" for t in u.write), ""]
        self._write(self.acl_file, "\n".join(acl))

    def _write(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        if _drops_to_own_user():
            shutil.chown(path, "mosquitto", "mosquitto")

    def start(self) -> None:
        # A session of its own: a Ctrl-C on the terminal reaches the whole foreground
        # process group, and the broker must outlive the parts that use it, which its owner
        # stops first (the exit guard still stops it if the owner dies).
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        # If this process dies without stopping the broker, the broker goes with it.
        cleanup = f"kill {self.process.pid}; rm -rf {shlex.quote(str(self.auth))}"
        if self.owns_folder:
            cleanup += f"; rm -rf {shlex.quote(str(self.folder))}"
        self._guard = ExitGuard(cleanup)
        wait_for_port("127.0.0.1", self.port)
        if self.tls_port is not None:
            wait_for_port("127.0.0.1", self.tls_port)

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
        """Stop, and remove the logins (and the folder, when it was made here)."""
        self.stop()
        shutil.rmtree(self.auth, ignore_errors=True)
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _copied(tls: BrokerTls, folder: Path) -> BrokerTls:
    folder.mkdir(parents=True, exist_ok=True)
    copy = BrokerTls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    for source, target in zip((tls.ca_file, tls.cert_file, tls.key_file),
                              (copy.ca_file, copy.cert_file, copy.key_file), strict=True):
        shutil.copyfile(source, target)
        target.chmod(0o600)
        if _drops_to_own_user():
            shutil.chown(target, "mosquitto", "mosquitto")
    if _drops_to_own_user():
        shutil.chown(folder, "mosquitto", "mosquitto")
    return copy


def _until_login(broker: LocalMosquitto, user: BrokerUser, timeout_s: float = 10.0) -> None:
    """Until the broker accepts ``user`` (it rereads its files on SIGHUP, in its own time)."""
    deadline = time.monotonic() + timeout_s
    while not _logs_in(broker.port, user):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not accept {user.name!r} after a reload")
        time.sleep(0.02)


def _logs_in(port: int, user: BrokerUser) -> bool:
    answers: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"heatlink-login-check-{secrets.token_hex(4)}")
    client.username_pw_set(user.name, user.password)
    client.on_connect = lambda c, u, f, reason, p: answers.append(not reason.is_failure)
    try:
        client.connect("127.0.0.1", port)
        deadline = time.monotonic() + 2.0
        while not answers and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    except OSError:
        return False
    finally:
        client.disconnect()
    return bool(answers and answers[0])


def _drops_to_own_user() -> bool:
    return os.geteuid() == 0 and _user_exists("mosquitto")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
