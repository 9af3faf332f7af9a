"""The gateway's command handler with a recording writer: what it writes and answers."""

from __future__ import annotations

from datetime import timedelta

from gateway.config import ControlConfig
from gateway.control import CommandHandler
from gateway.control_opcua import WriteOutcome
from heatlink.clock import FakeClock
from heatlink.commands import SetpointCommand

NODE = "ns=2;s=glomfjord/smoltfarm/tank1/temp_setpoint"
CONFIG = ControlConfig(mqtt_url="mqtt://127.0.0.1:1", client_id="gw", opcua_source="plant",
                       writable_nodes=[NODE])


class RecordingWriter:
    def __init__(self, outcome: WriteOutcome | Exception) -> None:
        self.outcome = outcome
        self.writes: list[tuple[str, float]] = []

    async def write(self, node_id: str, value: float, tolerance: float) -> WriteOutcome:
        self.writes.append((node_id, value))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def command(clock: FakeClock, *, node: str = NODE, ttl_s: float = 60.0,
            ident: str = "r1-p1-s1-a1") -> bytes:
    return SetpointCommand(id=ident, ramp_id=1, point="p", node_id=node, value=12.5,
                           issued_at=clock.now(),
                           expires_at=clock.now() + timedelta(seconds=ttl_s),
                           tolerance=0.01).model_dump_json().encode()


async def test_a_due_command_is_written_once_even_when_redelivered() -> None:
    clock = FakeClock()
    writer = RecordingWriter(WriteOutcome("applied", 12.5))
    handler = CommandHandler(CONFIG, writer, clock)
    first = await handler.handle(command(clock))
    again = await handler.handle(command(clock))
    assert first is not None
    assert first.status == "applied"
    assert again == first
    assert writer.writes == [(NODE, 12.5)]


async def test_an_expired_command_or_a_foreign_node_is_answered_without_writing() -> None:
    clock = FakeClock()
    writer = RecordingWriter(WriteOutcome("applied", 12.5))
    handler = CommandHandler(CONFIG, writer, clock)
    late = command(clock, ttl_s=60)
    clock.advance(60)
    expired = await handler.handle(late)
    foreign = await handler.handle(command(clock, node="ns=2;s=other", ident="x"))
    assert expired is not None
    assert expired.status == "expired"
    assert foreign is not None
    assert foreign.status == "rejected"
    assert writer.writes == []
    assert await handler.handle(b"{not json") is None


async def test_a_writer_that_raises_becomes_an_error_answer() -> None:
    clock = FakeClock()
    handler = CommandHandler(CONFIG, RecordingWriter(RuntimeError("boom")), clock)
    result = await handler.handle(command(clock))
    assert result is not None
    assert result.status == "error"
    assert "boom" in result.detail
