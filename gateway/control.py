"""`CommandHandler`: what the gateway does with one setpoint command, in order:

1. unreadable → dropped and logged (nothing to answer to);
2. already answered (same id redelivered) → the same answer again, nothing written;
3. past ``expires_at`` by the gateway's own clock → ``expired``, nothing written;
4. a node the config does not allow → ``rejected``, nothing written;
5. otherwise write, read back, answer ``applied``, ``mismatch``, ``refused`` or ``error``.

The MQTT message is acknowledged after the answer is published.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Protocol

from pydantic import ValidationError

from gateway.config import ControlConfig, OpcUaSourceConfig
from gateway.control_mqtt import CommandSubscription
from gateway.control_opcua import OpcUaWriter, WriteOutcome
from heatlink.aio import raise_if_cancel_requested
from heatlink.clock import Clock
from heatlink.commands import CommandResult, SetpointCommand, is_due

log = logging.getLogger("gateway.control")
REMEMBERED_ANSWERS = 1000


class SetpointWriter(Protocol):
    """Writes one node and reads it back. Never raises for what the server answers: a
    refusal, a mismatch or an unreachable server is a `WriteOutcome`. Safe to repeat: the
    value is absolute."""

    async def write(self, node_id: str, value: float, tolerance: float) -> WriteOutcome: ...


class CommandHandler:
    def __init__(self, config: ControlConfig, writer: SetpointWriter, clock: Clock) -> None:
        self.config = config
        self.writer = writer
        self.clock = clock
        self.allowed = frozenset(config.writable_nodes)
        self._answers: OrderedDict[str, CommandResult] = OrderedDict()
        self.results_total: dict[str, int] = {}

    async def handle(self, payload: bytes) -> CommandResult | None:
        try:
            command = SetpointCommand.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("control: unreadable command dropped: %s", exc.errors()[:1])
            return None
        if command.id in self._answers:
            return self._answers[command.id]
        try:
            result = await self._decide(command)
        except Exception as exc:  # one odd command must not take the gateway's readings down
            log.exception("control: command %s failed", command.id)
            result = self._answer(command, "error", None, f"{type(exc).__name__}: {exc}")
        self._answers[command.id] = result
        while len(self._answers) > REMEMBERED_ANSWERS:
            self._answers.popitem(last=False)
        self.results_total[result.status] = self.results_total.get(result.status, 0) + 1
        log.info("control: %s %s = %s: %s %s", command.id, command.point, command.value,
                 result.status, result.detail)
        return result

    def _answer(self, command: SetpointCommand, status: str, readback: float | None,
                detail: str) -> CommandResult:
        return CommandResult.model_validate({
            "command_id": command.id, "ramp_id": command.ramp_id, "point": command.point,
            "status": status, "value": command.value, "readback": readback,
            "at": self.clock.now(), "detail": detail})

    async def _decide(self, command: SetpointCommand) -> CommandResult:
        if not is_due(command, self.clock.now()):
            return self._answer(command, "expired", None, "arrived after its expiry "
                                f"{command.expires_at.isoformat()}; not applied")
        if command.node_id not in self.allowed:
            return self._answer(command, "rejected", None, f"node {command.node_id} is not "
                                "in this gateway's control.writable_nodes")
        outcome = await self.writer.write(command.node_id, command.value, command.tolerance)
        return self._answer(command, outcome.status, outcome.readback, outcome.detail)


class ControlChannel:
    """Runs the command subscription and the handler until cancelled."""

    def __init__(self, config: ControlConfig, source: OpcUaSourceConfig, gateway_id: str,
                 clock: Clock) -> None:
        self.subscription = CommandSubscription(config, gateway_id)
        self.writer = OpcUaWriter(source)
        self.handler = CommandHandler(config, self.writer, clock)

    async def run(self) -> None:
        self.subscription.start()
        try:
            while True:
                raise_if_cancel_requested()
                mid, payload = await self.subscription.inbox.get()
                result = await self.handler.handle(payload)
                if result is not None:
                    info = self.subscription.publish_result(result.model_dump_json().encode())
                    try:
                        await asyncio.to_thread(info.wait_for_publish, 10.0)
                    except (RuntimeError, ValueError):
                        # Not acknowledged: the broker redelivers the command after the
                        # reconnect and the remembered answer goes out then.
                        log.warning("control: answer to a command not published yet")
                        continue
                self.subscription.ack(mid)
        finally:
            await self.subscription.stop()
            await self.writer.close()
