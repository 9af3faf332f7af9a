"""Helpers of the accounting tests: the service on a fresh database, readings sent through
ingest as a gateway sends them, and the example exchange's meters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from heatlink.testing import FakeClock
from heatlink.water import heat_power_w
from services.access.principal import Role, Scope
from services.settings import Settings
from tests.support.servers import empty_database
from tests.support.service import AppHandle, make_token, running_app

EXCHANGE = "glomfjord-smolt"
SUPPLIER, RECIPIENT = "glomfjord-smelter", "fjordsmolt"
FACILITATOR, THIRD = "cluster-facilitator", "mo-greenhouse"
HM1 = {"flow": "glomfjord/smelter/hx1/secondary/flow",
       "temp_in": "glomfjord/smelter/hx1/secondary/supply_temp",
       "temp_out": "glomfjord/smelter/hx1/secondary/return_temp",
       "register": "glomfjord/smelter/hx1/secondary/energy"}
HM2 = {"flow": "glomfjord/smoltfarm/tank1/hm/flow",
       "temp_in": "glomfjord/smoltfarm/tank1/hm/supply_temp",
       "temp_out": "glomfjord/smoltfarm/tank1/hm/return_temp"}
FLOW, SUPPLY_C, RETURN_C = 350.0, 19.0, 2.0
POWER_KW = heat_power_w(FLOW, SUPPLY_C, RETURN_C) / 1000.0
PERIOD_S = 60


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class Accounting:
    handle: AppHandle
    clock: FakeClock
    gateway: str
    tokens: dict[str, str]

    def client(self, org: str) -> httpx.AsyncClient:
        return self.handle.client(self.tokens[org])

    async def send(self, readings: list[dict[str, Any]]) -> None:
        """Through ingest, in batches, as the gateway would."""
        async with self.handle.client(self.gateway) as client:
            for i in range(0, len(readings), 20_000):
                batch = readings[i:i + 20_000]
                r = await client.post("/v1/ingest", json={
                    "gateway": "glomfjord-gw1", "batch_id": uuid.uuid4().hex,
                    "readings": batch})
                assert r.status_code == 200, r.text
                assert r.json()["rejected"] == [], r.json()["rejected"][:3]

    async def energy(self, org: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        async with self.client(org) as client:
            r = await client.get(f"/v1/exchanges/{EXCHANGE}/energy",
                                 params={"start": start.isoformat(), "end": end.isoformat(),
                                         "step": "1h"})
        assert r.status_code == 200, r.text
        hours: list[dict[str, Any]] = r.json()["hours"]
        return hours


@asynccontextmanager
async def accounting_service(postgres_url: str, clock: FakeClock) -> AsyncIterator[Accounting]:
    async with empty_database(postgres_url) as url:
        settings = Settings(database_url=url, retention_days=400)
        async with running_app(settings, clock=clock) as handle:
            gateway = await make_token(url, SUPPLIER, Role.GATEWAY, gateway="glomfjord-gw1")
            tokens = {org: await make_token(url, org, role, scopes=[Scope.READ, Scope.SETTLE])
                      for org, role in ((SUPPLIER, Role.OPERATOR), (RECIPIENT, Role.RECIPIENT),
                                        (FACILITATOR, Role.FACILITATOR),
                                        (THIRD, Role.RECIPIENT))}
            tokens["recipient-read-only"] = await make_token(url, RECIPIENT, Role.RECIPIENT)
            yield Accounting(handle, clock, gateway, tokens)


def minutes(start: datetime, end: datetime, period_s: int = PERIOD_S) -> Iterable[datetime]:
    t = start
    while t < end:
        yield t
        t += timedelta(seconds=period_s)


def series(key: str, start: datetime, end: datetime, value: Callable[[datetime], float],
           period_s: int = PERIOD_S, quality: str = "good") -> list[dict[str, Any]]:
    return [{"series": key, "ts": t.isoformat(), "value": value(t), "quality": quality}
            for t in minutes(start, end, period_s)]


def meter(keys: dict[str, str], start: datetime, end: datetime, *, flow: float = FLOW,
          supply_c: float = SUPPLY_C, return_c: float = RETURN_C) -> list[dict[str, Any]]:
    """A heat meter's flow and temperature pair, steady over [start, end)."""
    return (series(keys["flow"], start, end, lambda _: flow)
            + series(keys["temp_in"], start, end, lambda _: supply_c)
            + series(keys["temp_out"], start, end, lambda _: return_c))


def register(start: datetime, end: datetime, at_start_kwh: float, power_kw: float = POWER_KW,
             wrap_at: float | None = None) -> list[dict[str, Any]]:
    """HM-1's register: the integral of a steady power, wrapping at ``wrap_at``."""
    def value(t: datetime) -> float:
        v = at_start_kwh + power_kw * (t - start).total_seconds() / 3600.0
        return round(v % wrap_at if wrap_at else v, 6)
    return series(HM1["register"], start, end, value)
