"""`ReadbackAlarm`: a plant that does not take a setpoint becomes an alert to the point's
owner, through the alert pipeline as a finding (so routing, delivery and the lifecycle are
the alerts' own). The operator's resume clears it."""

from __future__ import annotations

from heatlink.clock import Clock
from heatlink.commands import CommandResult
from heatlink.findings import Finding, FindingSink
from services.control.ramp import Ramp


class ReadbackAlarm:
    def __init__(self, sink: FindingSink, clock: Clock) -> None:
        self.sink = sink
        self.clock = clock

    def _finding(self, ramp: Ramp, state: str, previous: str, detail: str,
                 value: float | None) -> Finding:
        now = self.clock.now()
        return Finding(rule_id=f"control:{ramp.point.key}", rule_version=1, kind="control",
                       series=ramp.point.key, owner=ramp.point.owner, severity="alarm",
                       state=state, previous_state=previous, ts=now, since_ts=now,
                       detected_at=now, late=False, value=value, slope_per_h=None,
                       predicted_time_to_limit_s=None, detail=detail)

    async def raise_for(self, ramp: Ramp, result: CommandResult) -> None:
        detail = (f"ramp {ramp.id}: asked {result.value}, gateway answered {result.status}"
                  f" (read back {result.readback}); the ramp is held. {result.detail}")
        await self.sink.findings([self._finding(ramp, "readback_mismatch", "ok", detail,
                                                result.readback)])

    async def clear(self, ramp: Ramp) -> None:
        await self.sink.findings([self._finding(ramp, "ok", "readback_mismatch",
                                                f"ramp {ramp.id} resumed by the operator",
                                                None)])
