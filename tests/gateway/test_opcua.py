"""OPC UA source against an asyncua server in this process: timestamps and quality, server
restart (check 4), silent-subscription watchdog, security (check 6), discover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from asyncua import ua
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import parse_config
from gateway.testing import RecordingUplink
from services.storage.local_postgres import free_port
from tests.gateway.plants import GLOMFJORD, OpcUaPlant, make_certificate
from tests.gateway.support import config_for, eventually, opcua_source, running

SERIES = [s for s, _ in GLOMFJORD]
T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


@pytest.fixture
async def plant() -> AsyncIterator[OpcUaPlant]:
    made = OpcUaPlant(free_port())
    await made.start()
    yield made
    await made.stop()


def stored_at(uplink: RecordingUplink, series: str) -> set[datetime]:
    return {ts for s, ts in uplink.stored if s == series}  # type: ignore[misc]


async def test_source_timestamps_and_status_become_ts_and_quality(
        plant: OpcUaPlant, tmp_path: Path) -> None:
    uplink = RecordingUplink()
    async with running(config_for(tmp_path, [opcua_source(plant.endpoint, SERIES,
                                                          plant.ns)]), uplink) as gateway:
        await eventually(lambda: gateway.sources[0].up, what="subscribed")
        series = SERIES[0]
        for i in range(20):
            await plant.write(series, 30.0 + i, T0 + timedelta(seconds=i))
        await plant.nodes[series].write_value(ua.DataValue(
            ua.Variant(99.0, ua.VariantType.Double),
            StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
            SourceTimestamp=T0 + timedelta(seconds=100)))
        await eventually(lambda: T0 + timedelta(seconds=100) in stored_at(uplink, series))
        assert {T0 + timedelta(seconds=i) for i in range(20)} <= stored_at(uplink, series)
        batches = [r for _, b in uplink.batches for r in b if r.series == series]
        assert [r.quality for r in batches if r.value == 99.0] == ["uncertain"]
        assert gateway.sources[0].stats.readings_total >= 21


async def test_server_restart_data_flows_again(plant: OpcUaPlant, tmp_path: Path) -> None:
    uplink = RecordingUplink()
    async with running(config_for(tmp_path, [opcua_source(plant.endpoint, SERIES,
                                                          plant.ns)]), uplink) as gateway:
        source = gateway.sources[0]
        await eventually(lambda: source.up, what="subscribed")
        await plant.write(SERIES[1], 25.0, T0)
        await eventually(lambda: T0 in stored_at(uplink, SERIES[1]))
        await plant.stop()
        await eventually(lambda: not source.up, what="the loss noticed")
        await plant.start()
        ts = T0 + timedelta(seconds=1)
        await plant.write(SERIES[1], 26.0, ts)
        # The server's new value is the initial value of the recreated monitored item.
        took_s = await eventually(lambda: ts in stored_at(uplink, SERIES[1]), timeout_s=30,
                                  what="data after the restart")
        print(f"data flowed again {took_s:.1f} s after the server restart")
        assert source.stats.reconnects_total >= 1
        # Every configured node is monitored again, not only the one written.
        assert getattr(source, "monitored_items", 0) == len(SERIES)
        for i, series in enumerate(SERIES):
            await plant.write(series, 10.0 + i, T0 + timedelta(seconds=2))
        await eventually(lambda: all(T0 + timedelta(seconds=2) in stored_at(uplink, s)
                                     for s in SERIES), what="all items after the restart")


async def test_watchdog_rebuilds_a_subscription_the_server_dropped(plant: OpcUaPlant,
                                                                   tmp_path: Path) -> None:
    uplink = RecordingUplink()
    async with running(config_for(tmp_path, [opcua_source(plant.endpoint, SERIES, plant.ns,
                                                          watchdog_s=1.0)]), uplink) as gateway:
        source = gateway.sources[0]
        await eventually(lambda: source.up, what="subscribed")
        assert plant.server is not None
        service = plant.server.iserver.subscription_service
        # The server forgets the subscription but keeps the session: the client gets no
        # publish responses at all, yet the connection looks healthy.
        ids = list(service.subscriptions)
        await service.delete_subscriptions(ids)
        ts = T0 + timedelta(seconds=5)
        await plant.write(SERIES[0], 33.0, ts)
        # asyncua 2.1's own stale-subscription check usually recreates it first (it looks at
        # 1.5 keep-alive periods); ours (after watchdog_s) is the backstop. Either way:
        await eventually(lambda: ts in stored_at(uplink, SERIES[0]), timeout_s=10,
                         what="data after the rebuild")


@pytest.fixture(scope="module")
async def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("pki")
    made = {
        "server": await make_certificate(folder, "server", "urn:heatlink:test-plant", server=True),
        "gateway": await make_certificate(folder, "gateway", "urn:heatlink:gateway", server=False),
        "stranger": await make_certificate(folder, "stranger", "urn:heatlink:gateway",
                                           server=False),
    }
    trusted = folder / "trusted"
    trusted.mkdir()
    (trusted / "gateway.der").write_bytes(made["gateway"][0].read_bytes())
    made["trusted"] = (trusted, trusted)
    # The gateway's own trust list: the plant's server certificate.
    servers = folder / "gateway-trusts"
    servers.mkdir()
    (servers / "plant.der").write_bytes(made["server"][0].read_bytes())
    made["servers"] = (servers, servers)
    return made


@pytest.fixture
async def secure_plant(certificates: dict[str, tuple[Path, Path]]) -> AsyncIterator[OpcUaPlant]:
    made = OpcUaPlant(free_port())
    await made.start(secure=certificates["server"], trusted_clients=certificates["trusted"][0],
                     users={"gateway": "s3cret"})
    yield made
    await made.stop()


def secure_source(plant: OpcUaPlant, cert: tuple[Path, Path], password: str) -> dict[str, object]:
    trusted = cert[0].parent / "gateway-trusts"
    return opcua_source(plant.endpoint, SERIES[:1], plant.ns, security={
        "policy": "Basic256Sha256", "mode": "SignAndEncrypt",
        "certificate": str(cert[0]), "private_key": str(cert[1]),
        "trusted_certificates": str(trusted),
        "rejected_certificates": str(cert[0].parent / "rejected")},
        username="gateway", password=password)


async def test_a_secure_endpoint_works_with_the_right_certificate_and_password(
        secure_plant: OpcUaPlant, certificates: dict[str, tuple[Path, Path]],
        tmp_path: Path) -> None:
    uplink = RecordingUplink()
    config = config_for(tmp_path, [secure_source(secure_plant, certificates["gateway"],
                                                 "s3cret")])
    async with running(config, uplink) as gateway:
        await eventually(lambda: gateway.sources[0].up, timeout_s=15, what="secure session")
        await secure_plant.write(SERIES[0], 31.5, T0)
        await eventually(lambda: T0 in stored_at(uplink, SERIES[0]))


@pytest.mark.parametrize(("which", "password", "says"), [
    ("gateway", "wrong", "refused the username/password of user 'gateway'"),
    ("stranger", "s3cret", "refused the gateway's certificate"),
])
async def test_a_wrong_certificate_or_password_fails_saying_which(
        secure_plant: OpcUaPlant, certificates: dict[str, tuple[Path, Path]], tmp_path: Path,
        which: str, password: str, says: str) -> None:
    config = config_for(tmp_path, [secure_source(secure_plant, certificates[which], password)])
    async with running(config, RecordingUplink()) as gateway:
        source = gateway.sources[0]
        await eventually(lambda: source.stats.last_error is not None, timeout_s=15)
        assert not source.up
        assert says in (source.stats.last_error or ""), source.stats.last_error


async def test_discover_prints_a_config_that_loads(plant: OpcUaPlant) -> None:
    # In a thread: the CLI runs its own event loop, and the plant needs this one.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["discover", plant.endpoint])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    nodes = data["sources"][0]["nodes"]
    assert {n["series"] for n in nodes} == set(SERIES)
    assert parse_config(data).sources[0].name == "plant"
