"""A real asyncua client against the simulator's OPC UA server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client
from asyncua import ua as _ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from services.storage.local_postgres import free_port
from simulators.catalog import SERIES, TANK1
from simulators.certs import ensure_certificate, trust
from simulators.live import LiveSimulation
from simulators.opcua_server import OpcUaSecurity, unece_unit_id
from simulators.scenario import SensorOverride, load_scenario

ua: Any = _ua
CLIENT_URI = "urn:heatlink:test-client"
TANK = f"{TANK1}/temp"
HEATER = f"{TANK1}/heater_setpoint"


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("opcua-certs")
    trusted = ensure_certificate(folder / "clients", "trusted-client", CLIENT_URI, server=False)
    ensure_certificate(folder / "clients", "stranger", CLIENT_URI, server=False)
    trust(folder / "server" / "trusted", trusted.cert_path)
    return folder


@pytest.fixture(scope="module")
async def sim(cert_dir: Path) -> AsyncIterator[LiveSimulation]:
    security = OpcUaSecurity(cert_dir=cert_dir / "server")
    # Slow enough (sim runs 120× real time) to stay alive for the whole module.
    async with LiveSimulation("furnace-trip", speed=120, opcua_port=free_port(),
                              opcua_security=security) as running:
        await running.wait_until(60)
        yield running


async def test_browse_and_read_values_with_units_and_timestamps(sim: LiveSimulation) -> None:
    async with Client(sim.opcua_endpoint) as client:
        objects = client.nodes.objects
        sites = {(await n.read_browse_name()).Name for n in await objects.get_children()}
        assert {"glomfjord", "mo"} <= sites
        glomfjord = await objects.get_child(["2:glomfjord", "2:smoltfarm", "2:tank1"])
        names = {(await n.read_browse_name()).Name for n in await glomfjord.get_children()}
        assert {"temp", "inflow", "mixing_valve", "heater_power", "heater_setpoint"} <= names
        for info in SERIES:
            node = client.get_node(sim.opcua_node_id_for(info.key))
            dv = await node.read_data_value()
            assert dv.StatusCode.is_good(), info.key
            assert isinstance(dv.Value.Value, float)
            assert await node.read_data_type_as_variant_type() == ua.VariantType.Double
            assert dv.SourceTimestamp is not None
        tank = client.get_node(sim.opcua_node_id_for(TANK))
        units = await (await tank.get_child("0:EngineeringUnits")).read_value()
        assert units.UnitId == unece_unit_id("CEL")
        assert units.DisplayName.Text == "°C"
        eu_range = await (await tank.get_child("0:EURange")).read_value()
        assert (eu_range.Low, eu_range.High) == (-2.0, 35.0)
        dv = await tank.read_data_value()
        source_ts = dv.SourceTimestamp.replace(tzinfo=UTC)
        published = dict(sim.published[TANK])
        assert source_ts in published
        assert dv.Value.Value == published[source_ts]
        # The run ends at the present: no source timestamp lies in the future.
        assert source_ts <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
async def test_secure_connection_with_a_trusted_certificate(sim: LiveSimulation, cert_dir: Path,
                                                            mode: str) -> None:
    client = Client(sim.opcua_endpoint)
    client.application_uri = CLIENT_URI
    await client.set_security(SecurityPolicyBasic256Sha256,
                              str(cert_dir / "clients" / "trusted-client.der"),
                              str(cert_dir / "clients" / "trusted-client.pem"),
                              mode=getattr(ua.MessageSecurityMode, mode))
    async with client:
        value = await client.get_node(sim.opcua_node_id_for(TANK)).read_value()
        assert 5.0 < value < 15.0


async def test_a_client_with_an_untrusted_certificate_is_refused(sim: LiveSimulation,
                                                                 cert_dir: Path) -> None:
    client = Client(sim.opcua_endpoint)
    client.application_uri = CLIENT_URI
    await client.set_security(SecurityPolicyBasic256Sha256,
                              str(cert_dir / "clients" / "stranger.der"),
                              str(cert_dir / "clients" / "stranger.pem"))
    with pytest.raises(ua.UaStatusCodeError) as refused:
        async with client:
            pass
    assert refused.value.code == ua.StatusCodes.BadCertificateUntrusted


async def test_setpoint_writes_reach_the_physics_and_can_be_refused(sim: LiveSimulation) -> None:
    async with Client(sim.opcua_endpoint) as client:
        heater = client.get_node(sim.opcua_node_id_for(HEATER))
        await heater.write_value(ua.DataValue(ua.Variant(9.5, ua.VariantType.Double)))
        assert sim.setpoints()[HEATER] == 9.5
        await sim.wait_until(sim.sim_time_s + 10)  # the ground truth gets it with the next step
        assert [e for e in sim.truth if e.kind == "setpoint_written" and e.series == HEATER]
        await sim.refuse_writes(HEATER)
        with pytest.raises(ua.UaStatusCodeError) as refused:
            await heater.write_value(ua.DataValue(ua.Variant(11.0, ua.VariantType.Double)))
        assert refused.value.code == ua.StatusCodes.BadUserAccessDenied
        assert sim.setpoints()[HEATER] == 9.5
        await sim.refuse_writes(HEATER, refuse=False)
        with pytest.raises(ua.UaStatusCodeError) as out_of_range:
            await heater.write_value(ua.DataValue(ua.Variant(45.0, ua.VariantType.Double)))
        assert out_of_range.value.code == ua.StatusCodes.BadOutOfRange
        await heater.write_value(ua.DataValue(ua.Variant(8.0, ua.VariantType.Double)))
        assert sim.setpoints()[HEATER] == 8.0


async def test_the_mixing_valve_follows_a_written_position(sim: LiveSimulation) -> None:
    valve = f"{TANK1}/mixing_valve"
    async with Client(sim.opcua_endpoint) as client:
        position = client.get_node(sim.opcua_node_id_for(f"{TANK1}/mixing_valve_setpoint"))
        await position.write_value(ua.DataValue(ua.Variant(100.0, ua.VariantType.Double)))
        # The actuator needs a minute end to end; then the measured position is 100 %.
        await sim.wait_until(sim.sim_time_s + 90)
        assert sim.published[valve][-1][1] == pytest.approx(100.0, abs=0.2)
        setpoint = client.get_node(sim.opcua_node_id_for(f"{TANK1}/temp_setpoint"))
        await setpoint.write_value(ua.DataValue(ua.Variant(12.0, ua.VariantType.Double)))
        await sim.wait_until(sim.sim_time_s + 300)
        # Back in auto, the valve throttles the warm water the tank does not need.
        assert sim.published[valve][-1][1] < 95.0


async def test_restart_keeps_port_and_node_ids(sim: LiveSimulation) -> None:
    node_id = sim.opcua_node_id_for(TANK)
    await sim.restart_opcua()
    transport = [e.kind for e in sim.truth if e.kind.startswith("opcua_")]
    assert transport[-2:] == ["opcua_stopped", "opcua_started"]
    async with Client(sim.opcua_endpoint) as client:
        dv = await client.get_node(node_id).read_data_value()
        assert dv.StatusCode.is_good()
        assert isinstance(dv.Value.Value, float)


async def test_password_users_and_bad_quality_status() -> None:
    base = load_scenario("normal-day")
    # A transmitter that always reads far out of range: its quality is bad.
    broken = base.model_copy(update={"sensors": {
        TANK: SensorOverride(spike_probability=1.0, spike_size=100.0)}})
    security = OpcUaSecurity(users={"operator": "s3cret"})
    async with LiveSimulation(broken, speed=600, opcua_port=free_port(),
                              opcua_security=security) as sim:
        await sim.wait_until(30)
        with pytest.raises(ua.UaStatusCodeError):
            async with Client(sim.opcua_endpoint):
                pass
        client = Client(sim.opcua_endpoint)
        client.set_user("operator")
        client.set_password("s3cret")
        async with client:
            dv = await client.get_node(sim.opcua_node_id_for(TANK)).read_data_value(
                raise_on_bad_status=False)
            assert dv.StatusCode.is_bad()
            assert dv.SourceTimestamp is not None
            flow = await client.get_node(
                sim.opcua_node_id_for(f"{TANK1}/inflow")).read_data_value()
            assert flow.StatusCode.is_good()
