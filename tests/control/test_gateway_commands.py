"""The gateway's command handler with a recording plant: what it writes, answers, refuses and
audits, whatever the service (or someone posing as it) sends."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ControlConfig
from gateway.control import CommandHandler
from gateway.control_audit import ControlAuditFile
from gateway.control_opcua import ReadOutcome, WriteOutcome
from gateway.control_state import ControlState
from heatlink.commands import SetpointCommand, sign_command
from heatlink.signing import SigningKey
from heatlink.testing import FakeClock

NODE = "ns=2;s=glomfjord/smoltfarm/tank1/temp_setpoint"
GATEWAY = "glomfjord-gw1"
SERVICE_KEY = SigningKey.generate()
LIMITS = {"range": [0, 20], "max_rate_per_h": 2.0, "max_step": 0.5}


def config(tmp_path: Path, *trusted: SigningKey) -> ControlConfig:
    return ControlConfig(
        mqtt_url="mqtt://127.0.0.1:1", client_id="gw", opcua_source="plant",
        writable_nodes=[{"node_id": NODE, **LIMITS}],  # type: ignore[list-item]
        signing_key=tmp_path / "gw.key",
        trusted_keys=[k.public_text for k in (trusted or (SERVICE_KEY,))])


class RecordingPlant:
    """A setpoint node: holds what was written; answers with ``outcome`` when given one."""

    def __init__(self, value: float = 12.0, outcome: WriteOutcome | Exception | None = None
                 ) -> None:
        self.value = value
        self.outcome = outcome
        self.writes: list[tuple[str, float]] = []

    async def read(self, node_id: str) -> ReadOutcome:
        return ReadOutcome(self.value)

    async def write(self, node_id: str, value: float, tolerance: float) -> WriteOutcome:
        self.writes.append((node_id, value))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if self.outcome is not None:
            return self.outcome
        self.value = value
        return WriteOutcome("applied", value)


def handler(tmp_path: Path, plant: RecordingPlant, clock: FakeClock,
            *trusted: SigningKey) -> CommandHandler:
    """A handler whose state and audit live in ``tmp_path``: a second one there is the same
    gateway after a restart."""
    return CommandHandler(config(tmp_path, *trusted), GATEWAY, plant, clock,
                          state=ControlState.load(tmp_path / "state.json"),
                          audit=ControlAuditFile(tmp_path / "audit.jsonl", clock))


def command(clock: FakeClock, seq: int, value: float = 12.2, *, node: str = NODE,
            ttl_s: float = 60.0, ident: str | None = None, gateway: str = GATEWAY,
            key: SigningKey = SERVICE_KEY) -> bytes:
    return sign_command(SetpointCommand(
        id=ident or f"r1-p1-s{seq}-a1", gateway=gateway, seq=seq, ramp_id=1, step=seq,
        point="glomfjord/smoltfarm/tank1/temp_setpoint", node_id=node, value=value,
        issued_at=clock.now(), expires_at=clock.now() + timedelta(seconds=ttl_s),
        tolerance=0.01), key)


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


async def test_a_redelivered_command_is_answered_again_and_written_once(
        tmp_path: Path) -> None:
    clock, plant = FakeClock(), RecordingPlant()
    h = handler(tmp_path, plant, clock)
    first = await h.handle(command(clock, 1))
    again = await h.handle(command(clock, 1))  # the broker had not taken the answer
    assert first is not None
    assert first.status == "applied"
    assert first.gateway == GATEWAY
    assert again == first
    assert plant.writes == [(NODE, 12.2)]
    h.settled(first.command_id)  # answer published, command acknowledged
    replay = await h.handle(command(clock, 1))
    assert replay is not None
    assert replay.status == "rejected"
    assert plant.writes == [(NODE, 12.2)]


async def test_an_expired_command_or_a_foreign_node_is_answered_without_writing(
        tmp_path: Path) -> None:
    clock, plant = FakeClock(), RecordingPlant()
    h = handler(tmp_path, plant, clock)
    late = command(clock, 1, ttl_s=60)
    clock.advance(60)
    expired = await h.handle(late)
    foreign = await h.handle(command(clock, 2, node="ns=2;s=other"))
    assert expired is not None
    assert expired.status == "expired"
    assert foreign is not None
    assert foreign.status == "rejected"
    assert plant.writes == []


async def test_a_writer_that_raises_becomes_an_error_answer(tmp_path: Path) -> None:
    clock = FakeClock()
    h = handler(tmp_path, RecordingPlant(outcome=RuntimeError("boom")), clock)
    result = await h.handle(command(clock, 1))
    assert result is not None
    assert result.status == "error"
    assert "boom" in result.detail


@pytest.mark.parametrize(("value", "reason"), [
    (999.0, "out_of_range"), (-273.0, "out_of_range"), (math.nan, "not_finite"),
    (math.inf, "not_finite"), (13.0, "step")])
async def test_a_value_outside_the_nodes_bounds_is_refused_reported_and_audited(
        tmp_path: Path, value: float, reason: str) -> None:
    """Whatever the service signed: the edge holds the node to its own range and step."""
    clock, plant = FakeClock(), RecordingPlant(12.0)
    h = handler(tmp_path, plant, clock)
    result = await h.handle(command(clock, 1, value))
    assert result is not None
    assert result.status == "rejected"
    assert "not written" in result.detail
    assert plant.writes == []
    assert h.stats.refused_total == {reason: 1}
    [line] = audit(tmp_path)
    assert line["status"] == "rejected"
    assert line["reason"] == reason
    assert line["seq"] == 1
    # The answer carries no NaN: the service stores it as JSON.
    assert result.value is None or math.isfinite(result.value)


async def test_the_rate_is_judged_against_what_was_last_written(tmp_path: Path) -> None:
    """2 K/h with a 0.5 K step: steps of 0.4 K a minute apart pass once (the step's worth of
    allowance), then only as fast as 2 K/h refills it."""
    clock, plant = FakeClock(), RecordingPlant(12.0)
    h = handler(tmp_path, plant, clock)
    statuses = []
    for seq in range(1, 4):
        result = await h.handle(command(clock, seq, plant.value + 0.4))
        assert result is not None
        statuses.append(result.status)
        clock.advance(60)
    assert statuses == ["applied", "rejected", "rejected"]
    assert h.stats.refused_total == {"rate": 2}
    assert plant.writes == [(NODE, 12.4)]
    clock.advance(12 * 60)  # 0.4 K at 2 K/h
    result = await h.handle(command(clock, 4, 12.8))
    assert result is not None
    assert result.status == "applied", result.detail


async def test_unsigned_forged_or_misrouted_commands_are_dropped_and_counted(
        tmp_path: Path) -> None:
    clock, plant = FakeClock(), RecordingPlant()
    h = handler(tmp_path, plant, clock)
    body = SetpointCommand(id="x", gateway=GATEWAY, seq=1, ramp_id=1, step=1, point="p",
                           node_id=NODE, value=12.1, issued_at=clock.now(),
                           expires_at=clock.now() + timedelta(minutes=1), tolerance=0.01)
    forged = json.loads(sign_command(body, SigningKey.generate()))
    forged["kid"] = SERVICE_KEY.key_id  # claims the service's key, signed with another
    tampered = json.loads(sign_command(body, SERVICE_KEY))
    tampered["body"] = tampered["body"].replace("12.1", "19.9")
    for payload in (body.model_dump_json().encode(), command(clock, 1, key=SigningKey.generate()),
                    json.dumps(forged).encode(), json.dumps(tampered).encode(),
                    command(clock, 2, gateway="mo-gw1"), b"{not json"):
        assert await h.handle(payload) is None
    assert plant.writes == []
    assert h.stats.dropped_total == {"unsigned": 1, "unknown_key": 1, "bad_signature": 2,
                                     "other_gateway": 1, "unreadable": 1}
    assert [line["dropped"] for line in audit(tmp_path)] == [
        "unsigned", "unknown_key", "bad_signature", "bad_signature", "other_gateway",
        "unreadable"]


async def test_a_replayed_command_is_refused_also_after_a_restart(tmp_path: Path) -> None:
    clock, plant = FakeClock(), RecordingPlant(12.0)
    h = handler(tmp_path, plant, clock)
    first, second = command(clock, 7, 12.2), command(clock, 8, 12.3)
    for payload in (first, second):
        answer = await h.handle(payload)
        assert answer is not None
        assert answer.status == "applied"
        if payload is first:  # the second's answer never reached the broker
            h.settled(answer.command_id)
    plant.value = 12.0  # the plant's operator set it back at the panel

    restarted = handler(tmp_path, plant, clock)
    redelivered = await restarted.handle(second)
    assert redelivered is not None
    assert redelivered.status == "applied"  # its answer again, from disk
    for payload in (first, command(clock, 5, 12.1, ident="r9-p1-s1-a1")):
        replay = await restarted.handle(payload)
        assert replay is not None
        assert replay.status == "rejected"
        assert "replayed" in replay.detail
    assert plant.writes == [(NODE, 12.2), (NODE, 12.3)]
    assert plant.value == 12.0
    assert restarted.stats.refused_total == {"replayed": 2}
    assert [line.get("reason") for line in audit(tmp_path)[-3:]] == [
        None, "replayed", "replayed"]


async def test_a_command_interrupted_by_a_crash_is_decided_again_when_redelivered(
        tmp_path: Path) -> None:
    clock, plant = FakeClock(), RecordingPlant(12.0)
    state = ControlState.load(tmp_path / "state.json")
    state.take(3, "r1-p1-s3-a1")  # on disk before the write; then the gateway stopped
    state.save()
    result = await handler(tmp_path, plant, clock).handle(command(clock, 3, 12.2))
    assert result is not None
    assert result.status == "applied"
    assert plant.writes == [(NODE, 12.2)]


async def test_two_trusted_keys_during_a_rotation(tmp_path: Path) -> None:
    clock, plant = FakeClock(), RecordingPlant(12.0)
    new_key = SigningKey.generate()
    h = handler(tmp_path, plant, clock, SERVICE_KEY, new_key)
    for seq, key in ((1, SERVICE_KEY), (2, new_key)):
        result = await h.handle(command(clock, seq, 12.0 + 0.1 * seq, key=key))
        assert result is not None
        assert result.status == "applied"
