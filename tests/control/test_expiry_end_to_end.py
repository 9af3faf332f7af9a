"""Check 3 with real parts: the plant's gateway is offline for commands; each command
expires unconfirmed and is reported expired; when the gateway comes back, the broker hands
it the commands it kept, and the gateway, checking their expiry on its own clock, answers
'expired' without writing.

The plant's readings keep flowing through a second gateway meanwhile: with them stopped
too, the ramp would hold on its stale input before any command went out (also safe, but
not what this check is about).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.control.support import POINT, TANK, gateway_config, gateway_running, plant, until

pytestmark = pytest.mark.slow


async def test_an_unconfirmed_command_expires_and_is_never_applied_late(
        fresh_database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two attempts, as the cluster's default: the ramp gives up after the second expiry.
    async with plant(fresh_database_url, tmp_path, monkeypatch, with_gateway=False,
                     point_settings={"max_attempts": 2}) as p:
        def config(**extra: Any) -> Any:
            return gateway_config(tmp_path, endpoint=p.sim.opcua_endpoint,
                                  service_url=p.app.url, token=p.gateway_token, **extra)
        readings = config(broker=None, keys=None, client_id="unused", name="readings")
        control = config(broker=p.broker, keys=p.keys,
                         client_id=f"gw-control-{uuid.uuid4().hex[:8]}", name="control",
                         nodes=[f"{TANK}/mixing_valve"])
        async with gateway_running(readings, p.clock):
            # The control gateway's first run opens its persistent session on the broker.
            async with gateway_running(control, p.clock):
                pass
            await p.until_tank_stored()
            before = p.sim.setpoints()[POINT]
            answer = await p.request(10.0)
            assert answer.status_code == 201, answer.text
            ramp_id = answer.json()["id"]

            async def given_up() -> bool:
                ramp = await p.ramp(ramp_id)
                return any("did not confirm" in r for r in ramp["reasons"])
            await until(given_up, "the ramp held for unconfirmed commands")
            ramp = await p.ramp(ramp_id)
            assert ramp["status"] == "held"
            assert [c["status"] for c in ramp["commands"]] == ["expired", "expired"]
            assert all(c["gateway_status"] is None for c in ramp["commands"])

            async with gateway_running(control, p.clock) as gateway:
                async def answered() -> bool:
                    commands = (await p.ramp(ramp_id))["commands"]
                    return all(c["gateway_status"] == "expired" for c in commands)
                await until(answered, "the returning gateway's answers")
                assert gateway.control is not None
                assert gateway.control.handler.results_total == {"expired": 2}
                _, health = await gateway.health()
                assert health["control"] == {"connected": True,
                                             "results_total": {"expired": 2},
                                             "refused_total": {}, "dropped_total": {}}
            assert p.sim.setpoints()[POINT] == before
            assert not [e for e in p.sim.truth if e.kind == "setpoint_written"]
            kinds = [r["kind"] for r in await p.audit(ramp_id=ramp_id)]
            assert kinds.count("step_expired") == 2
            assert kinds.count("late_answer") == 2
            assert (await p.ramp(ramp_id))["status"] == "held"
