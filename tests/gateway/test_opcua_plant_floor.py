"""OPC UA as a plant runs it: engineering units on the nodes, history on the server, and a
server (or the path to it) that freezes and recovers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from gateway.runner import Gateway
from services.storage.local_postgres import free_port
from simulators.catalog import SeriesInfo
from simulators.opcua_server import SimOpcUaServer
from tests.gateway.support import WatchingUplink, config_for, eventually, opcua_source, running
from tests.support.tcp_proxy import TcpProxy

SUPPLY = "glomfjord/smelter/hx1/primary/supply_temp"
FLOW = "glomfjord/smelter/hx1/primary/flow"
SERIES = [SeriesInfo(SUPPLY, "temperature", "degC", -5, 130),
          SeriesInfo(FLOW, "flow", "l/s", 0, 1000)]


async def server(history: timedelta | None = None) -> SimOpcUaServer:
    sim = SimOpcUaServer(port=free_port(), series=SERIES, setpoints=[], setpoint_values={},
                         on_write=lambda _k, _v: None, history=history)
    await sim.start()
    return sim


@pytest.fixture
async def plant() -> AsyncIterator[SimOpcUaServer]:
    sim = await server(history=timedelta(hours=1))
    yield sim
    await sim.stop()


async def write(sim: SimOpcUaServer, series: str, value: float, ts: datetime) -> None:
    await sim.publish(series, ts, value, "good")


async def test_readings_carry_the_nodes_engineering_units_unless_declared(
        plant: SimOpcUaServer, tmp_path: Path) -> None:
    uplink = WatchingUplink()
    source = opcua_source(plant.endpoint, [SUPPLY, FLOW])
    source["nodes"][0]["unit"] = "K"  # a declaration wins over the node's EngineeringUnits
    async with running(config_for(tmp_path, [source]), uplink):
        ts = datetime.now(UTC).replace(microsecond=0)
        await write(plant, SUPPLY, 300.0, ts)
        await write(plant, FLOW, 12.5, ts)
        got = await uplink.until(lambda rs: {r.series for r in rs if r.ts == ts} == {SUPPLY, FLOW})
    units = {r.series: r.unit for r in got if r.ts == ts}
    assert units == {SUPPLY: "K", FLOW: "l/s"}  # l/s from its UNECE code G51


@contextlib.asynccontextmanager
async def frozen_link(sim: SimOpcUaServer, tmp_path: Path, **extra: object
                      ) -> AsyncIterator[tuple[Gateway, TcpProxy, WatchingUplink]]:
    proxy = await TcpProxy(sim.port).start()
    uplink = WatchingUplink()
    endpoint = sim.endpoint.replace(f":{sim.port}/", f":{proxy.port}/")
    source = opcua_source(endpoint, [SUPPLY, FLOW], **{"watchdog_s": 1, "request_timeout_s": 1,
                                                       **extra})
    try:
        async with running(config_for(tmp_path, [source]), uplink) as gateway:
            yield gateway, proxy, uplink
    finally:
        await proxy.close()


async def test_after_a_reconnect_the_gap_is_read_from_the_servers_history(
        plant: SimOpcUaServer, tmp_path: Path) -> None:
    async with frozen_link(plant, tmp_path) as (gateway, proxy, uplink):
        source = gateway.sources[0]
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        await write(plant, SUPPLY, 30.0, t0)
        await uplink.until(lambda rs: any(r.ts == t0 for r in rs))
        proxy.freeze()
        await eventually(lambda: not source.up, what="the source saw the freeze")
        gap = [t0 + timedelta(seconds=s) for s in range(1, 6)]
        for i, ts in enumerate(gap):  # produced while the gateway cannot see the server
            await write(plant, SUPPLY, 31.0 + i, ts)
        proxy.thaw()
        got = await uplink.until(lambda rs: all(any(r.ts == ts for r in rs) for ts in gap))
        # In order; the newest may come twice (also as the subscription's first value), which
        # the service's idempotency by (series, ts) absorbs.
        from_gap = list(dict.fromkeys((r.ts, r.value) for r in got
                                      if r.series == SUPPLY and r.ts in gap))
        assert from_gap == [(ts, 31.0 + i) for i, ts in enumerate(gap)]
        assert source.stats.events["history_values"] >= len(gap)


async def test_after_a_gateway_restart_the_time_it_was_down_is_read_from_history(
        plant: SimOpcUaServer, tmp_path: Path) -> None:
    config = config_for(tmp_path, [opcua_source(plant.endpoint, [SUPPLY, FLOW])])
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    before = WatchingUplink()
    async with running(config, before):
        await write(plant, SUPPLY, 30.0, t0)
        await before.until(lambda rs: any(r.ts == t0 for r in rs))
    gap = [t0 + timedelta(seconds=s) for s in range(1, 6)]
    for i, ts in enumerate(gap):  # produced while no gateway runs
        await write(plant, SUPPLY, 31.0 + i, ts)
    after = WatchingUplink()
    async with running(config, after) as gateway:
        # A fresh subscription would give only the newest value; the rest is history's.
        got = await after.until(lambda rs: all(any(r.ts == ts for r in rs) for ts in gap))
        assert gateway.sources[0].stats.events["history_values"] >= len(gap) - 1
    from_gap = list(dict.fromkeys((r.ts, r.value) for r in got
                                  if r.series == SUPPLY and r.ts in gap))
    assert from_gap == [(ts, 31.0 + i) for i, ts in enumerate(gap)]


async def test_the_history_read_is_bounded_by_the_settings(
        plant: SimOpcUaServer, tmp_path: Path) -> None:
    limits = {"history": {"max_values_per_node": 2, "max_span_s": 3600}}
    async with frozen_link(plant, tmp_path, **limits) as (gateway, proxy, uplink):
        source = gateway.sources[0]
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        await write(plant, SUPPLY, 30.0, t0)
        await uplink.until(lambda rs: any(r.ts == t0 for r in rs))
        proxy.freeze()
        await eventually(lambda: not source.up, what="the source saw the freeze")
        for s in range(1, 6):
            await write(plant, SUPPLY, 30.0 + s, t0 + timedelta(seconds=s))
        proxy.thaw()
        await eventually(lambda: source.stats.events["history_values"] > 0)
        got = await uplink.until(lambda rs: any(r.ts == t0 + timedelta(seconds=2) for r in rs))
        in_gap = sorted(r.ts for r in got if t0 < r.ts < t0 + timedelta(seconds=5))
        assert in_gap == [t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)]


async def test_a_server_without_history_is_named_once_in_the_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sim = await server(history=None)
    try:
        async with frozen_link(sim, tmp_path) as (gateway, proxy, uplink):
            source = gateway.sources[0]
            t0 = datetime.now(UTC).replace(microsecond=0)
            await write(sim, SUPPLY, 30.0, t0)
            await uplink.until(lambda rs: any(r.ts == t0 for r in rs))
            events = source.stats.events
            with caplog.at_level(logging.INFO, logger="gateway.opcua"):
                for round_ in range(2):
                    proxy.freeze()
                    await eventually(lambda: not source.up)
                    proxy.thaw()
                    # The gap is read after the source is up again: wait for that, too.
                    await eventually(lambda n=round_: source.up and events["gap_fills"] > n,
                                     what=f"up again and its gap dealt with ({round_})")
            said = [r for r in caplog.records if "keeps no history" in r.getMessage()]
            assert len(said) == 1
    finally:
        await sim.stop()


def connections_to(port: int) -> int:
    """Our established TCP connections to a port, counted by the operating system."""
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


async def test_no_socket_is_left_open_after_a_frozen_server_recovers(
        plant: SimOpcUaServer, tmp_path: Path) -> None:
    # The default request timeout (4 s) outlasts the time a disconnect is given (2 s).
    async with frozen_link(plant, tmp_path, request_timeout_s=4) as (gateway, proxy, _):
        source = gateway.sources[0]
        await eventually(lambda: source.up)
        assert connections_to(proxy.port) == 1
        for _ in range(2):
            proxy.freeze()
            await eventually(lambda: not source.up, what="the freeze noticed")
            proxy.thaw()
            await eventually(lambda: source.up, what="up again")
        await eventually(lambda: connections_to(proxy.port) == 1,
                         what="one connection, none left over")
