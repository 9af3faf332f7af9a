"""Severity from what the monitor said and from how soon the recipient is hurt."""

from __future__ import annotations

from alerts.model import Severity

# Less than this before a limit is crossed leaves time only to act: page as an alarm.
URGENT_S = 1800.0


def severity_for(finding_severity: str, time_to_impact_s: float | None) -> Severity:
    base = Severity.ALARM if finding_severity == "alarm" else Severity.WARNING
    if time_to_impact_s is not None and time_to_impact_s <= URGENT_S:
        return Severity.ALARM
    return base
