"""`ReadbackAlarm`: a plant that does not take a setpoint becomes an alert to the point's
owner, raised through the alerts' door for other domains' alarms (`alerts.alarms`), so the
lifecycle, routing, delivery and the transition log are the alerts' own. The operator's
resume clears it."""

from __future__ import annotations

from alerts.alarms import Alarm, Alarms
from alerts.model import Severity
from heatlink.commands import CommandResult
from services.control.ramp import Ramp

SOURCE = "control"
CONDITION = "readback_mismatch"


def alarm_key(point: str) -> str:
    """One alert per writable point and owner, whichever ramp ran into it."""
    return f"{SOURCE}:{point}"


class ReadbackAlarm:
    def __init__(self, alarms: Alarms) -> None:
        self.alarms = alarms

    async def raise_for(self, ramp: Ramp, result: CommandResult) -> None:
        text = (f"ramp {ramp.id}: asked {result.value}, gateway answered {result.status}"
                f" (read back {result.readback}); the ramp is held. {result.detail}")
        await self.alarms.raise_alarm(Alarm(
            source=SOURCE, key=alarm_key(ramp.point.key), org=ramp.point.owner,
            severity=Severity.ALARM, condition=CONDITION, subject=ramp.point.key,
            text=text.strip(), value=result.readback))

    async def clear(self, ramp: Ramp) -> None:
        await self.alarms.clear_alarm(SOURCE, alarm_key(ramp.point.key), ramp.point.owner,
                                      f"ramp {ramp.id} resumed by the operator")
