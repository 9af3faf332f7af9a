"""The yardstick of `heatlink bench gateway`: how fast ``mosquitto_sub`` (Mosquitto's own C
client) takes the same queued load from the same broker.

Its persistent session is made before the load is published, so the broker queues every
message for it as for the gateway; then it drains them with ``-C`` (exit after that many)
and the wall time from its start to its exit is the figure, connection included, as for the
gateway. Each gateway path is printed as a ratio to it.

It is the median of three sessions, each draining the whole load in turn: one drain takes a
twentieth of a second to half a second, and on a shared machine a single one varied by a
factor of three from run to run, more than anything measured against it.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from urllib.parse import urlsplit


class MosquittoSub:
    def __init__(self, url: str, topic: str, client_id: str, sessions: int = 3) -> None:
        parts = urlsplit(url)
        self.binary = shutil.which("mosquitto_sub")
        self.sessions = [[self.binary or "mosquitto_sub", "-h", parts.hostname or "127.0.0.1",
                          "-p", str(parts.port or 1883), "-V", "mqttv5", "-c", "-x", "3600",
                          "-i", f"{client_id}-{n}", "-q", "1", "-t", topic]
                         for n in range(sessions)]

    @property
    def available(self) -> bool:
        return self.binary is not None

    def subscribe(self) -> None:
        """Make the persistent sessions (and their subscriptions), then leave."""
        for session in self.sessions:
            subprocess.run([*session, "-W", "1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    def drain(self, messages: int, timeout_s: float = 300) -> float:
        """Seconds to receive `messages` queued messages: the median of the sessions."""
        took = []
        for session in self.sessions:
            started = time.monotonic()
            subprocess.run([*session, "-C", str(messages)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True, timeout=timeout_s)
            took.append(time.monotonic() - started)
        return statistics.median(took)
