"""The gateway's own record of every command it decided or dropped: JSON lines, fsynced.

Kept at the plant, so the plant's owner can see what reached its setpoints (and what was
turned away, and why) without asking the service, whose log an attacker of the channel
would not leave alone.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from heatlink.clock import Clock
from heatlink.wire import format_ts


class ControlAuditFile:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock

    async def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"at": format_ts(self._clock.now()), **record}, allow_nan=True,
                          default=str) + "\n"
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
