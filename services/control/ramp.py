"""`Ramp`: one setpoint change as a small state machine, driven by an injected clock.

No I/O and no clock of its own: the runtime calls `tick(now, blockers)` and
`on_result(result, now)`, sends the command a call returns and writes the events to the
audit log. Retries are data (``attempt``, the pending command's expiry), never loops.

    running ──blocker (stale input, active alarm)──▶ held ──blockers clear──▶ running
    running ──readback mismatch, refusal, attempts used up──▶ held (operator) ──resume──▶
    running ──last step confirmed──▶ completed;  any live state ──cancel──▶ cancelled

Steps are numbered; step k+1 goes out only after step k is confirmed and at least
``step_s`` after step k went out, so a slow gateway slows the ramp down but can never make
it steeper: a ramp that fell behind its schedule does not catch up. Resuming re-plans from the last
confirmed value with a fresh ease-in: the plant settled while the ramp was held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from heatlink.cluster.model import WritablePoint
from heatlink.commands import CommandResult, SetpointCommand
from services.control.plan import RampPlan


class RampStatus(StrEnum):
    RUNNING = "running"
    HELD = "held"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def live(self) -> bool:
        return self in (RampStatus.RUNNING, RampStatus.HELD)


@dataclass(frozen=True)
class Event:
    """One line of the audit log, as the state machine saw it."""

    kind: str  # step_sent, step_applied, step_expired, readback_mismatch, held, …
    detail: dict[str, Any]
    command_id: str | None = None


@dataclass
class Ramp:
    id: int
    point: WritablePoint
    target: float
    plan: RampPlan
    plan_started_at: datetime
    status: RampStatus = RampStatus.RUNNING
    confirmed_value: float | None = None
    step: int = 0  # last confirmed step of the current plan
    plan_no: int = 1  # re-plans after a hold count up, so command ids stay unique
    attempt: int = 0  # failed attempts of the next step
    pending: SetpointCommand | None = None
    last_sent_at: datetime | None = None  # when the last new value went out
    blockers: tuple[str, ...] = ()
    operator_hold: str | None = None  # a reason only the operator can clear
    answered: set[str] = field(default_factory=set)

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.blockers + ((self.operator_hold,) if self.operator_hold else ())

    # ---- what the runtime calls
    def tick(self, now: datetime, blockers: tuple[str, ...]) -> tuple[list[Event],
                                                                      SetpointCommand | None]:
        if not self.status.live:
            return [], None
        events = self._expire(now)
        events += self._interlock(now, blockers)
        if self.status is not RampStatus.RUNNING or self.pending is not None:
            return events, None
        k = self.step + 1
        due_at = self.plan_started_at + timedelta(seconds=(k - 1) * self.plan.step_s)
        if self.last_sent_at is not None and self.attempt == 0:
            due_at = max(due_at, self.last_sent_at + timedelta(seconds=self.plan.step_s))
        if now < due_at:
            return events, None
        # Numbered (seq) by the runtime when it stores the command, before it is signed.
        self.pending = SetpointCommand(
            id=f"r{self.id}-p{self.plan_no}-s{k}-a{self.attempt + 1}",
            gateway=self.point.gateway, ramp_id=self.id, step=k, point=self.point.key,
            node_id=self.point.node_id, value=self.plan.value_of_step(k),
            issued_at=now, expires_at=now + timedelta(seconds=self.point.command_ttl_s),
            tolerance=self.point.tolerance)
        if self.attempt == 0:
            self.last_sent_at = now
        events.append(Event("step_sent", {"step": k, "of": self.plan.steps,
                                          "value": self.pending.value,
                                          "attempt": self.attempt + 1,
                                          "expires_at": self.pending.expires_at.isoformat()},
                            self.pending.id))
        return events, self.pending

    def on_result(self, result: CommandResult, now: datetime) -> list[Event]:
        detail: dict[str, Any] = {"status": result.status, "value": result.value,
                                  "readback": result.readback, "gateway_at":
                                  result.at.isoformat(), "detail": result.detail}
        if self.pending is None or result.command_id != self.pending.id:
            # An answer to a command already given up on (it expired here first): recorded,
            # never acted on. A gateway returning after an outage answers 'expired'. One
            # applied just before its expiry did move the plant: with nothing else in
            # flight, a resume plans from that value.
            if (result.status == "applied" and self.pending is None and self.status.live
                    and result.readback is not None):
                self.confirmed_value = result.readback
            return [Event("late_answer", detail, result.command_id)]
        self.pending = None
        match result.status:
            case "applied":
                self.step += 1
                self.attempt = 0
                self.confirmed_value = result.readback
                events = [Event("step_applied", detail | {"step": self.step},
                                result.command_id)]
                if self.step >= self.plan.steps and self.status.live:
                    self.status = RampStatus.COMPLETED
                    events.append(Event("completed", {"value": result.readback}))
                return events
            case "expired" | "error":
                return [Event(f"step_{result.status}", detail, result.command_id),
                        *self._retry_or_hold(now, f"gateway answered {result.status}")]
            case "rejected":  # the gateway's own bounds or rules refused it: not written
                self.operator_hold = f"rejected by the gateway: {result.detail}"
                return [Event("step_rejected", detail, result.command_id),
                        *self._hold(now)]
            case _:  # mismatch, refused: the plant does not do what we asked
                self.operator_hold = (f"readback mismatch: {result.status}, asked "
                                      f"{result.value}, read {result.readback}")
                return [Event("readback_mismatch", detail, result.command_id),
                        *self._hold(now)]

    def cancel(self, by: str) -> list[Event]:
        if not self.status.live:
            return []
        self.status = RampStatus.CANCELLED
        # A command in flight cannot be called back; its expiry bounds when it may land.
        in_flight = self.pending.id if self.pending else None
        self.pending = None
        return [Event("cancelled", {"by": by, "in_flight": in_flight,
                                    "confirmed_value": self.confirmed_value})]

    def resume(self, now: datetime, by: str) -> list[Event]:
        if self.status is not RampStatus.HELD or self.operator_hold is None:
            return []
        cleared, self.operator_hold = self.operator_hold, None
        self.attempt = 0
        events = [Event("operator_resumed", {"by": by, "cleared": cleared})]
        if not self.blockers:
            events += self._run_again(now)
        return events

    def limit_changed(self, now: datetime, rate_per_s: float) -> list[Event]:
        """The recipient tightened its ramp rule while the ramp runs: the rest is planned
        anew at the new rate from the last confirmed value (a looser rule changes nothing:
        the operator asked at the old one)."""
        if not self.status.live or rate_per_s >= self.plan.rate_per_s - 1e-12:
            return []
        start = self._restart_value()
        old_rate = self.plan.rate_per_s
        self.plan = RampPlan(start, self.target, rate_per_s, self.plan.ease_s,
                             self.plan.step_s)
        self.plan_no += 1
        self.step = 0
        self.plan_started_at = now
        return [Event("replanned", {"why": "the ramp limit was tightened",
                                    "from_rate_per_h": round(old_rate * 3600, 4),
                                    "rate_per_h": round(rate_per_s * 3600, 4),
                                    "from": start, "steps": self.plan.steps})]

    # ---- transitions
    def _restart_value(self) -> float:
        """Where a new plan starts: the last confirmed value, kept inside the point's range
        so no planned step leaves it (a plant reading outside it is then a step the
        gateway refuses, never one the plan walks through)."""
        if self.confirmed_value is None:
            return self.plan.start_value
        low, high = self.point.range
        return min(max(self.confirmed_value, low), high)

    def _expire(self, now: datetime) -> list[Event]:
        if self.pending is None or now < self.pending.expires_at:
            return []
        expired, self.pending = self.pending, None
        return [Event("step_expired", {"value": expired.value, "expires_at":
                                       expired.expires_at.isoformat(),
                                       "detail": "not confirmed within its lifetime"},
                      expired.id),
                *self._retry_or_hold(now, "gateway did not confirm")]

    def _retry_or_hold(self, now: datetime, why: str) -> list[Event]:
        self.attempt += 1
        if self.attempt < self.point.max_attempts:
            return [Event("retry", {"attempt": self.attempt + 1, "why": why})]
        self.operator_hold = f"{why} ({self.attempt} attempts)"
        return self._hold(now)

    def _interlock(self, now: datetime, blockers: tuple[str, ...]) -> list[Event]:
        before, self.blockers = self.blockers, blockers
        if blockers and self.status is RampStatus.RUNNING:
            return self._hold(now)
        if blockers and blockers != before:
            return [Event("held", {"reasons": list(self.reasons)})]
        if not blockers and before and self.status is RampStatus.HELD \
                and self.operator_hold is None:
            return self._run_again(now)
        return []

    def _hold(self, now: datetime) -> list[Event]:
        self.status = RampStatus.HELD
        return [Event("held", {"reasons": list(self.reasons),
                               "confirmed_value": self.confirmed_value})]

    def _run_again(self, now: datetime) -> list[Event]:
        self.status = RampStatus.RUNNING
        start = self._restart_value()
        self.plan = RampPlan(start, self.target, self.plan.rate_per_s, self.plan.ease_s,
                             self.plan.step_s)
        self.plan_no += 1
        self.step = 0
        self.plan_started_at = now
        return [Event("resumed", {"from": self.plan.start_value, "to": self.target,
                                  "steps": self.plan.steps})]
