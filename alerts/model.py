"""The alert module's vocabulary: lifecycle states, severities, drafts and delivery outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from alerts import texts


class AlertState(StrEnum):
    """ISA-18.2 alarm states. Shelving, out of service and suppression by design are kept
    beside the state (an alert can be active and shelved), each with its own transitions."""

    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    NORMAL = "normal"

    @property
    def active(self) -> bool:
        return self in (AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK)


class Severity(StrEnum):
    WARNING = "warning"
    ALARM = "alarm"

    @property
    def rank(self) -> int:
        return 0 if self is Severity.WARNING else 1


class Role(StrEnum):
    """Why an organisation is told: it owns the rule, receives or supplies the heat."""

    OWNER = "owner"
    RECIPIENT = "recipient"
    SUPPLIER = "supplier"


@dataclass(frozen=True)
class Draft:
    """What one organisation should know about one condition: the input of the lifecycle.

    ``dedup_key`` names the condition for that organisation; one alert exists per
    (dedup_key, org). ``root_asset`` is set on alerts caused upstream (for inhibition).
    """

    dedup_key: str
    org: str
    role: Role
    kind: str
    condition: str
    active: bool
    severity: Severity
    title: str
    rule_id: str | None = None
    series: str | None = None
    asset: str | None = None
    cause_asset: str | None = None
    exchange: str | None = None
    time_to_impact_s: float | None = None
    since_ts: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # A symptom on this asset is grouped under an active root cause upstream of it.
    symptom_of_upstream: bool = False


# Outcomes of one attempt to deliver: what a Channel returns, handled by the worker.
@dataclass(frozen=True)
class Delivered:
    detail: str = ""


@dataclass(frozen=True)
class Retry:
    """A temporary failure: try again, not before ``after_s`` (None: the worker's backoff)."""

    reason: str
    after_s: float | None = None


@dataclass(frozen=True)
class Fail:
    """A permanent failure: retrying cannot help (bad address, rejected by the receiver)."""

    reason: str


Outcome = Delivered | Retry | Fail


@dataclass(frozen=True)
class Message:
    """One message to one address: the notifications grouped into it, oldest first.

    ``key`` is the idempotency key: the delivery's own key for a single notification, a
    stable key of the group otherwise; a retry after a crash sends the same key again.
    """

    key: str
    channel: str
    address: str
    org: str
    contact: str
    items: tuple[dict[str, Any], ...]
    secret: bytes | None = None
    language: str = "en"  # the receiving organisation's, for the human texts

    @property
    def summary(self) -> str:
        return texts.summary(self.language, self.items)
