"""The database stops under a running service: every endpoint answers 503 with Retry-After
and a problem body, /readyz says so, /metrics counts it, the log tells it once when it
goes and once when it is back, and the service works again without a restart.

The database server is this module's own (it is stopped with `pg_ctl stop -m immediate`,
which is a crash as far as the service can tell).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from heatlink.testing import FakeClock
from services.access.principal import Role
from services.monitor.runtime import MonitorRuntime
from services.runtimes import runtimes_of
from services.settings import Settings
from services.storage.local_postgres import LocalPostgres
from tests.monitor.dbsupport import T0, tank_readings
from tests.support.outage import outage_tracebacks
from tests.support.servers import empty_database, own_postgres_server, require_timescaledb
from tests.support.service import AppHandle, make_token, running_app

SERIES = "glomfjord/smoltfarm/tank1/temp"
RULE = "tank1-band"
# Neither needs the database: the process is up, and its metrics live in memory.
NO_STORAGE = {("GET", "/healthz"), ("GET", "/metrics")}
# The person's session door answers these without the database: asked with a token and no
# cookie, "not logged in"; a login with an empty body, what is missing.
NO_SESSION = {("GET", "/v1/session"): 401, ("DELETE", "/v1/session"): 401,
              ("POST", "/v1/session"): 422}
# Authenticated by a signature in the link rather than a token; refused before storage.
SIGNED_LINKS = re.compile(r"^/v1/alerts/\{alert_id\}/link$")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    with own_postgres_server() as started:
        yield started


@pytest.fixture
async def service(server: LocalPostgres) -> AsyncIterator[tuple[AppHandle, str]]:
    async with empty_database(server.url) as url:
        settings = Settings(database_url=url, require_timescaledb=require_timescaledb())
        async with running_app(settings) as handle:
            yield handle, url


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged, uvicorn's own loggers (which do not propagate) included."""
    caplog.set_level(logging.INFO)
    uvicorn_log = logging.getLogger("uvicorn")
    uvicorn_log.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn_log.removeHandler(caplog.handler)


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, request keywords) for every operation, with plausible values."""
    now = datetime.now(UTC)
    samples = {"key": SERIES, "series": SERIES, "rule_id": RULE, "alert_id": "1",
               "ramp_id": "1", "request_id": "1", "since": (now - timedelta(hours=1)).isoformat(),
               "until": now.isoformat(), "action": "ack", "org": "fjordsmolt",
               "expires": "1", "sig": "x"}
    found = []
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            url = path
            query = {}
            for param in op.get("parameters", []):
                value = samples.get(param["name"], "1")
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", value)
                elif param["in"] == "query" and param.get("required"):
                    query[param["name"]] = value
            kwargs: dict[str, Any] = {"params": query}
            if "requestBody" in op:
                kwargs["json"] = body_for(path)
            found.append((method.upper(), url, kwargs | {"template": path}))
    return found


def body_for(path: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    if path == "/v1/ingest":
        return {"gateway": "glomfjord-gw1", "batch_id": f"outage-{now.timestamp()}",
                "readings": [{"series": SERIES, "ts": (now - timedelta(seconds=5)).isoformat(),
                              "value": 12.0, "quality": "good"}]}
    if path == "/v1/control/ramps":
        return {"point": "glomfjord/smoltfarm/tank1/temp_setpoint", "target": 12.5}
    return {}


async def ask(client: httpx.AsyncClient, method: str, url: str,
              kwargs: dict[str, Any]) -> httpx.Response:
    kwargs = {k: v for k, v in kwargs.items() if k != "template"}
    request = client.build_request(method, url, **kwargs)
    # Streamed: an event stream that did start must not keep the test reading for ever.
    response = await client.send(request, stream=True)
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response
        await response.aread()
        return response
    finally:
        await response.aclose()


def assert_honest_503(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["Retry-After"].isdigit(), what
    assert int(response.headers["Retry-After"]) > 0
    if response.request.url.path != "/readyz":
        assert response.headers["content-type"].startswith("application/problem+json"), what
        problem = response.json()
        assert problem["status"] == 503
        assert "database is unreachable" in problem["detail"]


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


async def test_every_endpoint_answers_503_while_the_database_is_down_and_recovers(
        server: LocalPostgres, service: tuple[AppHandle, str],
        log_records: pytest.LogCaptureFixture) -> None:
    app, url = service
    facilitator = await make_token(url, "cluster-facilitator", Role.FACILITATOR)
    farm = await make_token(url, "fjordsmolt", Role.RECIPIENT)  # used before: cached
    gateway = await make_token(url, "glomfjord-smelter", Role.GATEWAY, gateway="glomfjord-gw1")
    async with app.client() as anonymous:
        openapi = (await anonymous.get("/openapi.json")).json()
    ops = operations(openapi)
    async with app.client(farm) as warm, app.client(gateway) as gw:
        assert (await warm.get("/v1/series")).status_code == 200
        assert (await gw.post("/v1/ingest", json=body_for("/v1/ingest"))).status_code == 200
        log_records.clear()

        await asyncio.to_thread(server.stop, "immediate")
        try:
            await while_down(app, ops, facilitator, warm, gw, log_records)
        finally:
            await asyncio.to_thread(server.start)
        await eventually_ready(warm)
        back = [r for r in log_records.records if "storage is back" in r.getMessage()]
        assert len(back) == 1
        assert (await warm.get("/v1/series")).status_code == 200
        stored = await gw.post("/v1/ingest", json=body_for("/v1/ingest"))
        assert stored.status_code == 200
        assert stored.json()["accepted"] == 1
        assert metric((await warm.get("/metrics")).text, "heatlink_storage_up") == 1
        async with app.client(facilitator) as cold:
            assert (await cold.get("/v1/alerts")).status_code == 200
    assert len([r for r in log_records.records if "storage unavailable" in r.getMessage()]) == 1
    assert outage_tracebacks(log_records.records) == []


async def while_down(app: AppHandle, ops: list[tuple[str, str, dict[str, Any]]],
                     facilitator: str, warm: httpx.AsyncClient, gw: httpx.AsyncClient,
                     log_records: pytest.LogCaptureFixture) -> None:
    # A token not looked up yet: the lookup itself needs the database.
    async with app.client(facilitator) as cold:
        for method, path, kwargs in ops:
            response = await ask(cold, method, path, kwargs)
            if (method, kwargs["template"]) in NO_STORAGE:
                assert response.status_code == 200, path
            elif (method, kwargs["template"]) in NO_SESSION:
                assert response.status_code == NO_SESSION[method, kwargs["template"]], path
            elif SIGNED_LINKS.match(kwargs["template"]):
                assert response.status_code < 500 or response.status_code == 503
                if response.status_code == 503:
                    assert_honest_503(response, f"{method} {path}")
            else:
                assert_honest_503(response, f"{method} {path} (token lookup)")

    # A token checked a moment ago: now the routes meet the database themselves.
    met_storage = set()
    for method, path, kwargs in ops:
        client = gw if kwargs["template"] == "/v1/ingest" else warm
        response = await ask(client, method, path, kwargs)
        assert response.status_code < 500 or response.status_code == 503, \
            f"{method} {path}: {response.status_code} {response.text[:300]}"
        if response.status_code == 503:
            assert_honest_503(response, f"{method} {path}")
            met_storage.add((method, kwargs["template"]))
    assert {("POST", "/v1/ingest"), ("GET", "/v1/series/{key}/readings"),
            ("GET", "/v1/alerts"), ("GET", "/v1/findings"),
            ("GET", "/readyz")} <= met_storage

    metrics = (await warm.get("/metrics")).text
    assert metric(metrics, "heatlink_storage_up") == 0
    assert metric(metrics, "heatlink_storage_unavailable_total") >= len(met_storage)

    # Told once, with no traceback anywhere: not per request, not per background loop.
    lost = [r for r in log_records.records if "storage unavailable" in r.getMessage()]
    assert len(lost) == 1
    assert outage_tracebacks(log_records.records) == []


async def eventually_ready(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    """Until /readyz answers 200: the database server is another process, with nothing to
    await but its answers."""
    async def answered() -> bool:
        return (await client.get("/readyz")).status_code == 200

    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await answered():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/readyz not 200 within {timeout_s} s")
        await asyncio.sleep(0.05)



async def test_findings_evaluated_while_the_database_is_down_are_kept_and_raised_after(
        server: LocalPostgres, log_records: pytest.LogCaptureFixture) -> None:
    """The monitor has moved on when its save fails: the finding must wait, not vanish."""
    clock = FakeClock(T0 + timedelta(minutes=10))
    async with empty_database(server.url) as url:
        settings = Settings(database_url=url, require_timescaledb=require_timescaledb())
        async with running_app(settings, clock=clock) as app:
            monitor: MonitorRuntime = runtimes_of(app.app).monitor
            farm = await make_token(url, "fjordsmolt", Role.RECIPIENT)
            async with app.client(farm) as client:
                assert (await client.get("/v1/findings")).json() == []
                await asyncio.to_thread(server.stop, "immediate")
                try:
                    # Stored a moment before the database went: 5 min at 12 °C, 5 at 17 °C.
                    keys, ts, values, quality = tank_readings(T0, 10, [12.0] * 30 + [17.0] * 30)
                    monitor.observer.readings_stored(keys, ts, values, quality)
                    await monitor.flush()
                finally:
                    await asyncio.to_thread(server.start)
                await eventually_ready(client)
                await monitor.tick()  # the next round saves and hands over what waited
                found = (await client.get("/v1/findings",
                                          params={"rule_id": "tank1-band"})).json()
                assert [f["state"] for f in found] == ["high"]
                alerts = (await client.get("/v1/alerts")).json()["alerts"]
                assert any(a["rule_id"] == "tank1-band" for a in alerts), alerts
    assert sum("storage unavailable" in r.getMessage() for r in log_records.records) == 1
    assert outage_tracebacks(log_records.records) == []
