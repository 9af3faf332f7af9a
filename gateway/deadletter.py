"""Readings the service refused as bad data go aside to a JSON-lines file, never retried.

Each line is self-contained, so an operator can fix and resend them by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

from heatlink.clock import Clock
from heatlink.wire import Reading, format_ts, reading_to_wire


class DeadLetterFile:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self.count_total = 0
        # The forwarder's lanes may dead-letter at the same time: one append at a time, so
        # that the lines of two batches never interleave in the file.
        self._appending = asyncio.Lock()

    async def write(self, batch_id: str,
                    entries: Sequence[tuple[Reading, str, str]]) -> None:
        """Append (reading, reason, detail) entries and fsync: the caller deletes the readings
        from the buffer next, so they must be on disk here first."""
        if not entries:
            return
        at = format_ts(self._clock.now())
        lines = "".join(json.dumps({"at": at, "batch_id": batch_id, "reason": reason,
                                    "detail": detail, "reading": reading_to_wire(r)},
                                   allow_nan=True) + "\n"
                        for r, reason, detail in entries)
        async with self._appending:
            await asyncio.to_thread(self._append, lines)
        self.count_total += len(entries)

    def _append(self, lines: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
