"""`CommandHandler`: what the gateway does with one setpoint command, in order:

1. not signed by a key in ``control.trusted_keys``, unreadable, or meant for another
   gateway → dropped without an answer (nothing trustworthy to answer to), audited, counted;
2. answered, but the answer not yet taken by the broker (the broker redelivers such a
   command after a reconnect) → the same answer again, nothing written;
3. a number (``seq``) not above the last one taken → ``rejected`` as a replay, nothing
   written; otherwise the number is on disk before anything else happens (a restart does
   not reopen replays);
4. past ``expires_at`` by the gateway's own clock → ``expired``, nothing written;
5. a node the config does not list, a value not finite or outside the node's range, a
   step or a rate beyond the node's bounds (judged from the value read just before) →
   ``rejected`` naming the bound, nothing written;
6. otherwise write, read back, answer ``applied``, ``mismatch``, ``refused`` or ``error``.

Every decision and every drop goes to the local audit file and a counter. Answers are
signed with the gateway's key; the MQTT message is acknowledged after the answer is
published.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from gateway.config import ControlConfig, OpcUaSourceConfig
from gateway.control_audit import ControlAuditFile
from gateway.control_limits import check_move, check_value, full, spend
from gateway.control_mqtt import CommandSubscription
from gateway.control_opcua import OpcUaWriter, ReadOutcome, WriteOutcome
from gateway.control_state import ControlState
from heatlink.aio import raise_if_cancel_requested
from heatlink.clock import Clock
from heatlink.commands import (
    CommandResult,
    SetpointCommand,
    is_due,
    open_command,
    sign_result,
)
from heatlink.signing import SignatureError, SigningKey, TrustedKeys

log = logging.getLogger("gateway.control")


class SetpointWriter(Protocol):
    """Reads and writes one node. Never raises for what the server answers: a refusal, a
    mismatch or an unreachable server is an outcome. Safe to repeat: the value is absolute."""

    async def read(self, node_id: str) -> ReadOutcome: ...

    async def write(self, node_id: str, value: float, tolerance: float) -> WriteOutcome: ...


@dataclass
class ControlStats:
    results_total: Counter[str] = field(default_factory=Counter)  # answers, by status
    refused_total: Counter[str] = field(default_factory=Counter)  # rejected, by reason
    dropped_total: Counter[str] = field(default_factory=Counter)  # not answered, by reason


class CommandHandler:
    def __init__(self, config: ControlConfig, gateway_id: str, writer: SetpointWriter,
                 clock: Clock, *, state: ControlState, audit: ControlAuditFile) -> None:
        self.config = config
        self.gateway_id = gateway_id
        self.writer = writer
        self.clock = clock
        self.state = state  # on disk: last number taken, answers not yet settled
        self.audit = audit
        self.trusted = TrustedKeys({"service": config.trusted_keys})
        self.nodes = {n.node_id: n for n in config.writable_nodes}
        self.stats = ControlStats()

    @property
    def results_total(self) -> dict[str, int]:
        return dict(self.stats.results_total)

    async def handle(self, payload: bytes) -> CommandResult | None:
        try:
            command = open_command(payload, self.trusted)
        except SignatureError as exc:
            await self._drop(exc.reason, exc.detail, payload)
            return None
        except ValidationError as exc:
            await self._drop("invalid", str(exc.errors()[:1]), payload)
            return None
        if command.gateway != self.gateway_id:
            await self._drop("other_gateway", f"signed for {command.gateway!r}, this is "
                             f"{self.gateway_id!r}", payload)
            return None
        remembered = self.state.answers.get(command.id)
        if remembered is not None:
            log.info("control: %s redelivered; answered again, not written", command.id)
            await self.audit.write({"command_id": command.id, "seq": command.seq,
                                    "redelivered": True, "detail": "answered again from "
                                    "memory; not written"})
            return CommandResult.model_validate_json(remembered)
        if self._replayed(command):
            result = self._answer(command, "rejected", None, f"replayed: command number "
                                  f"{command.seq} is not above {self.state.last_seq}, the "
                                  "last this gateway took; not written")
            await self._record(command, result, "replayed")
            return result
        self.state.take(command.seq, command.id)
        await asyncio.to_thread(self.state.save)
        reason = None
        try:
            result, reason = await self._decide(command)
        except Exception as exc:  # one odd command must not take the gateway's readings down
            log.exception("control: command %s failed", command.id)
            result = self._answer(command, "error", None, f"{type(exc).__name__}: {exc}")
        self.state.answer(command.id, result.model_dump_json())
        await asyncio.to_thread(self.state.save)
        await self._record(command, result, reason)
        return result

    def settled(self, command_id: str) -> None:
        """The answer is with the broker and the command acknowledged: the broker will not
        deliver it again, so any later copy is a replay. On disk with the next command's
        number: until then a copy gets the same answer again, which writes nothing either."""
        self.state.answers.pop(command_id, None)

    def _replayed(self, command: SetpointCommand) -> bool:
        if command.seq == self.state.last_seq:
            # Taken but never answered: the gateway stopped in the middle of it.
            return command.id != self.state.pending_id
        return command.seq < self.state.last_seq

    def _answer(self, command: SetpointCommand, status: str, readback: float | None,
                detail: str) -> CommandResult:
        return CommandResult.model_validate({
            "command_id": command.id, "gateway": self.gateway_id, "ramp_id": command.ramp_id,
            "point": command.point, "status": status,
            "value": command.value if math.isfinite(command.value) else None,
            "readback": readback if readback is not None and math.isfinite(readback)
            else None,
            "at": self.clock.now(), "detail": detail})

    async def _decide(self, command: SetpointCommand) -> tuple[CommandResult, str | None]:
        """The answer, and the bound that refused it (a metric label) if one did."""
        if not is_due(command, self.clock.now()):
            return self._answer(command, "expired", None, "arrived after its expiry "
                                f"{command.expires_at.isoformat()}; not applied"), None
        node = self.nodes.get(command.node_id)
        if node is None:
            return self._answer(command, "rejected", None, f"node {command.node_id} is not "
                                "in this gateway's control.writable_nodes"), "node_not_allowed"
        refusal = check_value(node, command.value)
        if refusal is not None:
            return self._answer(command, "rejected", None, refusal.detail), refusal.reason
        current = await self.writer.read(node.node_id)
        if current.value is None:
            return self._answer(command, "error", None, "could not read the node before "
                                f"writing: {current.detail}"), None
        now = self.clock.now()
        allowance = self.state.allowances.get(node.node_id) or full(node, now)
        refusal = check_move(node, command.value, current.value, allowance, now)
        if refusal is not None:
            return (self._answer(command, "rejected", current.value, refusal.detail),
                    refusal.reason)
        outcome = await self.writer.write(node.node_id, command.value, command.tolerance)
        if outcome.status != "refused":  # an error may have written: count it as moved
            self.state.allowances[node.node_id] = spend(
                node, allowance, abs(command.value - current.value), self.clock.now())
        return self._answer(command, outcome.status, outcome.readback, outcome.detail), None

    async def _record(self, command: SetpointCommand, result: CommandResult,
                      reason: str | None) -> None:
        self.stats.results_total[result.status] += 1
        if reason is not None:
            self.stats.refused_total[reason] += 1
        line = log.warning if reason is not None else log.info
        line("control: %s (seq %d) %s = %s: %s %s", command.id, command.seq, command.point,
             command.value, result.status, result.detail)
        await self.audit.write({
            "command_id": command.id, "seq": command.seq, "ramp_id": command.ramp_id,
            "step": command.step, "point": command.point, "node_id": command.node_id,
            "value": command.value, "status": result.status, "reason": reason,
            "readback": result.readback, "detail": result.detail})

    async def _drop(self, reason: str, detail: str, payload: bytes) -> None:
        self.stats.dropped_total[reason] += 1
        log.warning("control: command dropped (%s): %s", reason, detail)
        record: dict[str, Any] = {"dropped": reason, "detail": detail,
                                  "payload": payload[:500].decode(errors="replace")}
        await self.audit.write(record)


class ControlChannel:
    """Runs the command subscription and the handler until cancelled."""

    def __init__(self, config: ControlConfig, source: OpcUaSourceConfig, gateway_id: str,
                 clock: Clock, *, folder: Path) -> None:
        self.subscription = CommandSubscription(config, gateway_id)
        self.writer = OpcUaWriter(source)
        self.key = SigningKey.load(config.signing_key)
        state = ControlState.load(config.state_path or folder / f"{gateway_id}-control.json")
        audit = ControlAuditFile(config.audit_path or folder / f"{gateway_id}-control-audit"
                                 ".jsonl", clock)
        self.handler = CommandHandler(config, gateway_id, self.writer, clock, state=state,
                                      audit=audit)

    async def run(self) -> None:
        self.subscription.start()
        try:
            while True:
                raise_if_cancel_requested()
                mid, payload = await self.subscription.inbox.get()
                result = await self.handler.handle(payload)
                if result is not None:
                    info = self.subscription.publish_result(sign_result(result, self.key))
                    try:
                        await asyncio.to_thread(info.wait_for_publish, 10.0)
                    except (RuntimeError, ValueError):
                        # Not acknowledged: the broker redelivers the command after the
                        # reconnect and the remembered answer goes out then.
                        log.warning("control: answer to a command not published yet")
                        continue
                self.subscription.ack(mid)
                if result is not None:
                    self.handler.settled(result.command_id)
        finally:
            await self.subscription.stop()
            await self.writer.close()
