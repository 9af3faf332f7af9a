"""Checks 2 and 5 with real parts: a stale input and an active alarm hold a ramp and their
clearing resumes it; a write the plant refuses holds the ramp for the operator and raises
an alert to the point's owner."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from heatlink.findings import Finding
from services.runtimes import runtimes_of
from tests.control.support import POINT, TEMP, Plant, plant, until

pytestmark = pytest.mark.slow
FARM = "glomfjord/smoltfarm"


def sent_while_held(audit: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """step_sent rows between a 'held' row and the next 'resumed' one."""
    held, found = False, []
    for row in sorted(audit, key=lambda r: r["id"]):
        if row["kind"] == "held":
            held = True
        elif row["kind"] == "resumed":
            held = False
        elif row["kind"] == "step_sent" and held:
            found.append(row)
    return found


async def until_reason(p: Plant, ramp_id: int, reason: str | None) -> None:
    """Until the ramp is held for ``reason``, or (None) running. The farm's real 5-minute
    ramp alarm may hold the ramp too, on sensor noise: waits tolerate that."""
    async def reached() -> bool:
        ramp = await p.ramp(ramp_id)
        if reason is None:
            return bool(ramp["status"] == "running")
        return reason in ramp["reasons"]
    await until(reached, f"ramp {ramp_id}: {reason or 'running'}")


async def _has_command(p: Plant, ramp_id: int, status: str) -> bool:
    return any(c["status"] == status for c in (await p.ramp(ramp_id))["commands"])


def ramp_alarm(state: str, previous: str, at: datetime) -> Finding:
    return Finding(rule_id="tank1-ramp-alarm", rule_version=1, kind="ramp", series=TEMP,
                   owner="fjordsmolt", severity="alarm", state=state, previous_state=previous,
                   ts=at, since_ts=at, detected_at=at, late=False, value=12.0,
                   slope_per_h=-2.4 if state != "ok" else -1.0,
                   predicted_time_to_limit_s=None)


async def test_a_stale_input_or_an_active_alarm_holds_the_ramp_and_clearing_resumes_it(
        fresh_database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with plant(fresh_database_url, tmp_path, monkeypatch) as p:
        await p.until_tank_stored()
        answer = await p.request(10.0)
        assert answer.status_code == 201, answer.text
        ramp_id = answer.json()["id"]

        # Stale: the farm's readings stop; after max_input_age_s the ramp holds. (Injected
        # now rather than at a scenario time: how long the setup takes is the machine's.)
        p.sim.set_comms(FARM, lost=True)
        await until_reason(p, ramp_id, f"stale input: {TEMP}")
        p.sim.set_comms(FARM, lost=False)
        await until_reason(p, ramp_id, None)  # readings are back

        # An alarm on the recipient: the ramp alarm raised (as the monitor would hand it to
        # the alerts), then cleared.
        alerts = runtimes_of(p.app.app).alerts.service
        await alerts.findings([ramp_alarm("falling", "ok", p.clock.now())])
        await until_reason(p, ramp_id, "active alarm: tank1-ramp-alarm")
        before = p.sim.setpoints()[POINT]
        await p.sim.wait_until(p.sim.sim_time_s + 900)  # several steps' worth of time
        assert p.sim.setpoints()[POINT] == before
        await alerts.findings([ramp_alarm("ok", "falling", p.clock.now())])
        await until_reason(p, ramp_id, None)
        value = p.sim.setpoints()[POINT]

        async def moved() -> bool:
            return p.sim.setpoints()[POINT] < value
        await until(moved, "a step after the alarm cleared")

        # The farm tightens its ramp alarm mid-ramp: the rest is planned at the new rate.
        async with p.app.client(p.owner) as client:
            changed = await client.patch("/v1/rules/tank1-ramp-alarm", json={
                "changes": {"max_fall_per_h": 1.0}, "reason": "vet: slower this week"})
        assert changed.status_code == 200, changed.text

        async def replanned() -> bool:
            return any(r["kind"] == "replanned" for r in await p.audit(ramp_id=ramp_id))
        await until(replanned, "the ramp replanned at the tightened limit")
        row = next(r for r in await p.audit(ramp_id=ramp_id) if r["kind"] == "replanned")
        assert row["detail"]["rate_per_h"] == pytest.approx(0.6)  # 60 % of 1 K/h
        async with p.app.client(p.owner) as client:
            cancelled = await client.post(f"/v1/control/ramps/{ramp_id}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        audit = await p.audit(ramp_id=ramp_id)
        assert not sent_while_held(audit)
        kinds = [r["kind"] for r in sorted(audit, key=lambda r: r["id"])]
        assert kinds.count("held") >= 2
        assert kinds.count("resumed") >= 2
        # A step in flight when the operator cancelled may still be answered: recorded as a
        # late answer, nothing sent after it.
        after = kinds[kinds.index("cancelled") + 1:]
        assert set(after) <= {"late_answer"}


async def test_a_refused_write_holds_the_ramp_and_alerts_the_owner(
        fresh_database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with plant(fresh_database_url, tmp_path, monkeypatch) as p:
        await p.until_tank_stored()
        await p.sim.refuse_writes(POINT)
        before = p.sim.setpoints()[POINT]
        answer = await p.request(10.0)
        assert answer.status_code == 201, answer.text
        ramp_id = answer.json()["id"]
        await until(lambda: _has_command(p, ramp_id, "refused"), "the write refused")
        ramp = await p.ramp(ramp_id)
        assert ramp["status"] == "held"
        assert any(r.startswith("readback mismatch: refused") for r in ramp["reasons"])
        # On a loaded machine a step can expire on its way (the plant's clock runs 900x):
        # the gateway then writes nothing, and the next step is the one the plant refuses.
        statuses = [c["status"] for c in ramp["commands"]]
        first_refused = statuses.index("refused")
        assert set(statuses[:first_refused]) <= {"expired"}, statuses
        assert ramp["commands"][first_refused]["readback"] == before
        assert p.sim.setpoints()[POINT] == before
        rule_id = f"control:{POINT}"

        async def alert(state: str) -> bool:
            async with p.app.client(p.owner) as client:
                rows = (await client.get("/v1/alerts", params={"state": "all"})).json()["alerts"]
            return any(a["rule_id"] == rule_id and a["state"].startswith(state)
                       for a in rows)
        await until(lambda: alert("active"), "an alert to the farm")
        # No new step while held, however long it waits.
        sent = len(ramp["commands"])
        await p.sim.wait_until(p.sim.sim_time_s + 900)
        assert len((await p.ramp(ramp_id))["commands"]) == sent

        # The plant takes writes again; the operator resumes; the alert clears.
        await p.sim.refuse_writes(POINT, refuse=False)
        async with p.app.client(p.owner) as client:
            resumed = await client.post(f"/v1/control/ramps/{ramp_id}/resume")
        assert resumed.status_code == 200, resumed.text

        await until(lambda: _has_command(p, ramp_id, "applied"), "a step applied")
        await until(lambda: alert("cleared"), "the alert cleared")
        kinds = {r["kind"] for r in await p.audit(ramp_id=ramp_id)}
        assert {"readback_mismatch", "held", "operator_resumed", "step_applied"} <= kinds

        # Raised and cleared through the alerts' door for other domains' alarms: logged
        # with control as the actor, queued for the farm's subscriptions each time.
        async with p.app.client(p.owner) as client:
            rows = (await client.get("/v1/alerts", params={"state": "all"})).json()["alerts"]
            alert_id = next(a["id"] for a in rows if a["rule_id"] == rule_id)
            found = (await client.get(f"/v1/alerts/{alert_id}")).json()
        assert found["alert"]["org"] == "fjordsmolt"
        assert found["alert"]["kind"] == "control"
        assert [(t["actor"], t["event"]) for t in found["transitions"]
                if t["event"] in ("raised", "cleared")] == [
            ("control", "raised"), ("control", "cleared")]
        contacts = [d["contact"] for d in found["deliveries"]]
        assert contacts.count("farm night shift") == 2  # the raising and the clearing
