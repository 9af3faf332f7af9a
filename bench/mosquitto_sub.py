"""The yardstick of `heatlink bench gateway`: how fast ``mosquitto_sub`` (Mosquitto's own C
client) takes the same queued load from the same broker.

Its persistent session is made before the load is published, so the broker queues every
message for it as for the gateway; then it drains them with ``-C`` (exit after that many)
and the wall time from its start to its exit is the figure, connection included, as for the
gateway. Each gateway path is printed as a ratio to it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlsplit


class MosquittoSub:
    def __init__(self, url: str, topic: str, client_id: str) -> None:
        parts = urlsplit(url)
        self.binary = shutil.which("mosquitto_sub")
        self.base = [self.binary or "mosquitto_sub", "-h", parts.hostname or "127.0.0.1",
                     "-p", str(parts.port or 1883), "-V", "mqttv5", "-c", "-x", "3600",
                     "-i", client_id, "-q", "1", "-t", topic]

    @property
    def available(self) -> bool:
        return self.binary is not None

    def subscribe(self) -> None:
        """Make the persistent session (and its subscription), then leave."""
        subprocess.run([*self.base, "-W", "1"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)

    def drain(self, messages: int, timeout_s: float = 300) -> float:
        """Seconds to receive `messages` queued messages."""
        started = time.monotonic()
        subprocess.run([*self.base, "-C", str(messages)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=timeout_s)
        return time.monotonic() - started
