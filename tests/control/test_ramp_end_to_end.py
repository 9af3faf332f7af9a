"""Checks 1 and 4 with real parts: a 6 K change of the smolt tank's temperature setpoint
(12 → 6 °C) under the farm's 2 K/h ramp alarm, through the service, Mosquitto, the gateway and the
simulator's OPC UA server; who may ask, and what the audit log shows to whom. Since issue 12
every command is signed and numbered, every result signed, the broker closed (each part logs
in with only its topics) and the gateway holds the node to its own 2 K/h and 0.5 K step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.access.principal import Role
from tests.control.support import POINT, TANK, TEMP, plant
from tests.support.service import make_token

# Hours of plant time at 900×: a starved simulator runs slower than that, and three test
# workers on two cores starve it (77 s, and once past 120 s, of wall time).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]
LIMIT_K_PER_H = 2.0  # the example cluster's tank1-ramp-alarm


def slopes_k_per_h(samples: list[tuple[float, float]], window_s: float) -> np.ndarray:
    """Least-squares slope over every window of ``window_s``: the monitor's own measure."""
    t = np.array([s for s, _ in samples])
    v = np.array([x for _, x in samples])
    n = round(window_s / np.median(np.diff(t)))
    out = []
    for i in range(len(t) - n):
        tt, vv = t[i:i + n], v[i:i + n]
        out.append(np.polyfit(tt, vv, 1)[0] * 3600.0)
    return np.array(out)


async def test_a_6_k_ramp_respects_the_2_k_per_h_limit_and_reaches_its_target(
        fresh_database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # At SPEED a sim second is about a millisecond of wall time: on a loaded machine a step
    # can expire unconfirmed twice, and the default two attempts would hold the ramp for
    # the operator. Expiry and its hold are test_expiry_end_to_end's; this test is the rate's.
    # A command lives 30 sim min (2 s of wall time, not the default's 0.7 s): a final suite
    # with the other workers' CPU-bound tests beside it held the ramp after six expiries.
    async with plant(fresh_database_url, tmp_path, monkeypatch) as p:
        sim = p.sim
        smelter_op = await make_token(fresh_database_url, "glomfjord-smelter", Role.OPERATOR)
        farm_viewer = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
        greenhouse = await make_token(fresh_database_url, "mo-greenhouse", Role.OPERATOR)
        # Check 4: the supplier's operator (control scope, not the owner) and the farm's
        # read-only token are refused, and the refusals are audited.
        for token in (smelter_op, farm_viewer):
            answer = await p.request(6.0, token)
            assert answer.status_code == 403, answer.text
            assert answer.json()["detail"]
        await p.until_tank_stored()

        # The farm's operator has lowered the backup heater below the new temperature at the
        # plant (12 → 18 °C would instead run the mixing valve into its stop near 19 °C).
        sim.engine.write_setpoint(f"{TANK}/heater_setpoint", 5.0)
        start_s = sim.sim_time_s
        answer = await p.request(6.0)
        assert answer.status_code == 201, answer.text
        ramp = answer.json()
        assert abs(ramp["start_value"] - 12.0) < 0.3
        assert ramp["rate_per_h"] <= LIMIT_K_PER_H
        await p.until_status(ramp["id"], "completed", timeout_s=240)
        holds = [r for r in await p.audit(limit=5000) if r["kind"] == "held"]
        print(f"ramp took {sim.sim_time_s - start_s:.0f} sim s, planned "
              f"{ramp['steps'] * 120} s; held {len(holds)} times by the noisy 5-minute alarm")
        assert sim.setpoints()[POINT] == 6.0
        done_s = sim.sim_time_s
        # The tank settles on the new setpoint (τ ≈ 1 h, the PI's integral brings it home).
        await sim.wait_until(done_s + 1200)
        tank = [((ts - sim.start).total_seconds(), v) for ts, v in sim.published[TEMP]
                if (ts - sim.start).total_seconds() >= start_s]
        final = [v for s, v in tank if s >= done_s + 600]
        assert abs(float(np.mean(final)) - 6.0) < 0.2
        # Never faster than the limit: on true values (the simulator's ground truth judges
        # each 2 s physics step) and on the sensor, by the alarm rule's hour-long slope (its
        # 5-minute slope carries ±0.4 K/h of sensor noise: no test of the ramp).
        exceeded = [e for e in sim.truth if e.kind == "ramp_exceeded" and e.series == TEMP]
        assert not exceeded, exceeded
        assert float(np.max(np.abs(slopes_k_per_h(tank, 3600.0)))) <= LIMIT_K_PER_H

        # Check 4: the audit log, as both companies of the exchange see it.
        farm = await p.audit(limit=5000)
        kinds = [row["kind"] for row in farm]
        assert kinds.count("request_refused") == 2
        assert "requested" in kinds
        assert "completed" in kinds
        # Each command sent was applied, or (on a loaded machine, where a sim second is a
        # thousandth of a real one) expired unconfirmed and was sent again: never both.
        applied_n, expired_n = kinds.count("step_applied"), kinds.count("step_expired")
        assert applied_n + expired_n == kinds.count("step_sent")
        assert applied_n >= ramp["steps"]
        applied = [r for r in farm if r["kind"] == "step_applied"]
        assert all(r["detail"]["readback"] == r["detail"]["value"] for r in applied)
        refused = [r for r in farm if r["kind"] == "request_refused"]
        assert {r["actor"].split("/")[0] for r in refused} == {"glomfjord-smelter",
                                                                "fjordsmolt"}
        assert [r["kind"] for r in await p.audit(smelter_op, limit=5000)] == kinds
        assert await p.audit(greenhouse) == []
        commands = (await p.ramp(ramp["id"]))["commands"]
        assert len(commands) == kinds.count("step_sent")
        assert [c["status"] for c in commands].count("applied") == applied_n
        assert {c["status"] for c in commands} <= {"applied", "expired"}
        # Every one of them signed, numbered, and taken by the gateway in order.
        seqs = [c["seq"] for c in commands]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
