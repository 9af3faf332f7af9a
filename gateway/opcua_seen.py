"""`SeenMarks`: the newest source timestamp per OPC UA node that is safe in the buffer, kept
across gateway restarts, so the history gap fill also covers the time the gateway was down.

A mark advances only when the runner acknowledges an arrival, i.e. after `Buffer.add`
returned: a mark never runs ahead of what the buffer holds, so the gap read after a restart
starts no later than the first value the gateway lost. The file is written at most once per
`save_every_s` and at a clean stop; after a SIGKILL the marks may be up to that much behind,
and the gap read then repeats a few buffered values, which the service's idempotency by
(series, source timestamp) absorbs. JSON by node id and series, so a node whose id or series
changed between runs starts with no mark instead of a wrong one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from heatlink.clock import Clock

log = logging.getLogger("gateway.opcua")


class SeenMarks:
    def __init__(self, path: Path | None, clock: Clock, save_every_s: float = 1.0) -> None:
        self.path = path
        self._clock = clock
        self._save_every_s = save_every_s
        self._marks: dict[str, datetime] = self._load()
        self._dirty = False
        self._saved_at: datetime | None = None

    @staticmethod
    def key(node_id: str, series: str) -> str:
        return f"{node_id} {series}"

    def get(self, key: str) -> datetime | None:
        return self._marks.get(key)

    def advance(self, marks: Iterable[tuple[str, datetime]]) -> None:
        """Readings with these keys and timestamps are in the buffer now."""
        for key, ts in marks:
            last = self._marks.get(key)
            if last is None or ts > last:
                self._marks[key] = ts
                self._dirty = True
        now = self._clock.now()
        if self._saved_at is None or (now - self._saved_at).total_seconds() >= self._save_every_s:
            self.save()

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self._saved_at = self._clock.now()
        data = {key: ts.isoformat() for key, ts in self._marks.items()}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, sort_keys=True))
            os.replace(tmp, self.path)  # readers see the old file or the new one, never half
        except OSError as exc:
            log.warning("cannot keep the OPC UA marks in %s (%s); a restart will not read "
                        "the gap from history", self.path, exc.strerror)
            return
        self._dirty = False

    def _load(self) -> dict[str, datetime]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            marks = {str(k): datetime.fromisoformat(v) for k, v in data.items()}
            if any(ts.tzinfo is None for ts in marks.values()):
                raise ValueError("a time without its UTC offset")
            return marks
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("the OPC UA marks in %s cannot be read (%s); the gap since the last "
                        "run is not read from history", self.path, exc)
            return {}
