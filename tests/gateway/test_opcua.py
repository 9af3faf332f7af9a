"""OPC UA source against an asyncua server in this process: timestamps and quality, server
restart (check 4), silent-subscription watchdog, security (check 6), discover."""

from __future__ import annotations

import asyncio
import time
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


class FastClock:
    """A plant's simulated clock: a thousand seconds for each real one."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def now(self) -> datetime:
        return T0 + timedelta(seconds=1000 * (time.monotonic() - self._started))


async def test_a_clock_that_runs_fast_does_not_make_a_live_subscription_look_silent(
        plant: OpcUaPlant, tmp_path: Path) -> None:
    # A publish each second, the watchdog looking each half second: every other look finds
    # nothing new, which is 0.5 s of silence, not the 500 s the gateway's clock counts.
    uplink = RecordingUplink()
    source_config = opcua_source(plant.endpoint, SERIES, plant.ns, watchdog_s=2.0,
                                 publishing_interval_ms=1000)
    async with running(config_for(tmp_path, [source_config]), uplink,
                       clock=FastClock()) as gateway:
        source = gateway.sources[0]
        await eventually(lambda: source.up, what="subscribed")
        for i in range(4):
            ts = T0 + timedelta(seconds=i)
            await plant.write(SERIES[0], 30.0 + i, ts)
            await eventually(lambda ts=ts: ts in stored_at(uplink, SERIES[0]),
                             what=f"value {i}")
        assert source.stats.watchdog_rebuilds_total == 0
        assert source.stats.reconnects_total == 0


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


def discover_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["discover", *args])
    return result.exit_code, result.stdout, result.stderr


async def test_discover_offers_numbers_only_and_samples_at_the_nodes_minimum(
        plant: OpcUaPlant) -> None:
    assert plant.server is not None
    folder = plant.server.get_node(ua.NodeId("plant", plant.ns))
    await folder.add_variable(ua.NodeId("glomfjord/smelter/hx1/pump_on", plant.ns), "pump_on",
                              ua.Variant(True, ua.VariantType.Boolean))
    for node in plant.nodes.values():  # a source that changes five times a second
        await node.write_attribute(ua.AttributeIds.MinimumSamplingInterval,
                                   ua.DataValue(ua.Variant(200.0, ua.VariantType.Double)))
    code, out, _ = await asyncio.to_thread(discover_cli, plant.endpoint)
    assert code == 0, out
    source = yaml.safe_load(out)["sources"][0]
    assert "glomfjord/smelter/hx1/pump_on" not in {n["series"] for n in source["nodes"]}
    assert source["sampling_interval_ms"] == 200.0
    assert source["queue_size"] >= source["publishing_interval_ms"] / 200
    code, out, _ = await asyncio.to_thread(discover_cli, plant.endpoint, "--include-boolean")
    assert "glomfjord/smelter/hx1/pump_on" in out


async def test_discover_connects_like_the_source_and_names_refusals_in_one_line(
        secure_plant: OpcUaPlant, certificates: dict[str, tuple[Path, Path]],
        tmp_path: Path) -> None:
    cert, key = (str(p) for p in certificates["gateway"])
    # Trust by default: discover, as the source, refuses a server it was not told to trust.
    server = str(certificates["server"][0])
    secure = ["--policy", "Basic256Sha256", "--mode", "SignAndEncrypt", "--certificate", cert,
              "--private-key", key, "--rejected-certificates", str(tmp_path / "rejected"),
              "--server-certificate", server, "--username", "gateway"]
    code, out, _ = await asyncio.to_thread(discover_cli, secure_plant.endpoint, *secure,
                                           "--password", "s3cret")
    assert code == 0, out
    config = parse_config(yaml.safe_load(out))
    source = config.sources[0]
    assert source.security.policy == "Basic256Sha256"  # type: ignore[union-attr]
    assert source.password_env == "HEATLINK_OPCUA_PASSWORD"
    for args, says in [
        ((*secure, "--password", "wrong"), "refused the username/password of user 'gateway'"),
        ((*secure[:-4], "--username", "gateway", "--password", "s3cret"), "untrusted server"),
        ((), "offers no endpoint with policy None"),
    ]:
        code, out, err = await asyncio.to_thread(discover_cli, secure_plant.endpoint, *args)
        assert code == 1
        assert out == ""
        assert says in err, err
        assert len(err.strip().splitlines()) == 1  # one line, no traceback
