"""The simulated Nordland plant's readings, replayed into a running service as if live.

The offline simulator gives what the gateways would send; its timestamps are moved so
that the history ends now, and later samples are sent stamped with the moment they go.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx

from heatlink.wire import Reading
from simulators.offline import run_offline

GATEWAYS = {"glomfjord/": "glomfjord-gw1", "mo/": "mo-gw1"}


def gateway_of(series: str) -> str:
    return next(gw for prefix, gw in GATEWAYS.items() if series.startswith(prefix))


class ReplayedPlant:
    def __init__(self, history_s: float = 600, live_s: float = 600,
                 scenario: str = "normal-day") -> None:
        result = run_offline(scenario, duration_s=history_s + live_s)
        split = result.start + timedelta(seconds=history_s)
        self._shift = datetime.now(UTC) - split
        self.history = [r for r in result.readings if r.ts <= split]
        by_time: dict[datetime, list[Reading]] = defaultdict(list)
        for r in result.readings:
            if r.ts > split:
                by_time[r.ts].append(r)
        self._live: Iterator[list[Reading]] = iter(by_time[t] for t in sorted(by_time))

    async def send_history(self, gateways: dict[str, httpx.AsyncClient]) -> None:
        await _send(gateways, [r._replace(ts=r.ts + self._shift) for r in self.history])

    async def send_next(self, gateways: dict[str, httpx.AsyncClient]) -> list[Reading]:
        """The next simulated sample of every series, stamped now; what was sent."""
        now = datetime.now(UTC)
        batch = [r._replace(ts=now) for r in next(self._live)]
        await _send(gateways, batch)
        return batch


async def _send(gateways: dict[str, httpx.AsyncClient], readings: list[Reading]) -> None:
    per_gateway: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        per_gateway[gateway_of(r.series)].append(r)
    for gateway, batch in per_gateway.items():
        response = await gateways[gateway].post("/v1/ingest", json={
            "gateway": gateway, "batch_id": uuid.uuid4().hex,
            "readings": [{"series": r.series, "ts": r.ts.isoformat(), "value": r.value,
                          "quality": r.quality} for r in batch]})
        assert response.status_code == 200, response.text
        assert not response.json()["rejected"], response.text
