"""Alarms another domain raises on a condition it watches itself (control: a plant that
does not take a setpoint), as opposed to the monitor's findings on readings.

No finding and no rule is involved: the raising domain names the condition with a key
and says who must hear of it. The alarm then goes through what a monitor-born alert goes
through (`AlertService.apply`): the ISA-18.2 lifecycle, inhibition and silences, routing
to the organisation's subscriptions, the outbox in the same transaction, escalation, and
the transition log (its actor the raising domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.model import Draft, Role, Severity
from alerts.store import AlertRow


@dataclass(frozen=True)
class Alarm:
    """One condition raised by ``source`` (a domain's name, "control").

    ``key`` names the condition for good: one alert per (key, org), raised again when the
    condition returns. ``subject`` is what it is about (a writable point's key), ``condition``
    a word for what is wrong ("readback_mismatch"), ``text`` the sentence an operator reads.
    """

    source: str
    key: str
    org: str
    severity: Severity
    condition: str
    subject: str
    text: str
    value: float | None = None


class Alarms(Protocol):
    """The alerts' door for alarms of other domains.

    Called by the raising domain when it sees the condition begin or end. Safe to repeat:
    raising an alarm that is active, or clearing one that is not, changes nothing and
    tells nobody. Raises when the alerts' database cannot be reached; nothing is then
    recorded, and the caller may call again.
    """

    async def raise_alarm(self, alarm: Alarm) -> None: ...

    async def clear_alarm(self, source: str, key: str, org: str, text: str) -> None: ...


def raised(alarm: Alarm) -> Draft:
    """The draft of an alarm raised: to its organisation, as the owner of the condition."""
    detail: dict[str, object] = {
        "source": alarm.source, "state": alarm.condition, "previous_state": "ok",
        "value": alarm.value, "detail": alarm.text, "asset_name": alarm.subject}
    # The key stands where a rule's id would: who names alerts by rule (the API's filter,
    # control's interlocks, the title in another language) finds this one by it.
    return Draft(alarm.key, alarm.org, Role.OWNER, alarm.source, alarm.condition, True,
                 alarm.severity, f"{alarm.subject}: {alarm.text}", rule_id=alarm.key,
                 series=alarm.subject, detail=detail)


def cleared(row: AlertRow, text: str) -> Draft:
    """The draft that ends the condition ``row`` stands for (its title is kept)."""
    detail = {**row.detail, "state": "ok", "previous_state": row.condition, "value": None,
              "detail": text}
    return Draft(row.dedup_key, row.org, Role(row.role), row.kind, row.condition, False,
                 row.severity, row.title, rule_id=row.rule_id, series=row.series,
                 asset=row.asset, detail=detail)
