"""The ISA-18.2 state machine, pure: what a finding or an operator does to an alert.

A returned `Change` is recorded as a transition; ``notify`` says whether it is news worth a
notification before the silence and inhibition stages have their say.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import AlertState, Draft, Severity

A = AlertState


@dataclass(frozen=True)
class Change:
    event: str
    from_state: AlertState | None
    to_state: AlertState
    notify: bool


def on_draft(state: AlertState | None, severity: Severity | None, condition: str | None,
             draft: Draft) -> Change | None:
    """A finding about the condition arrived; None when it changes nothing."""
    if draft.active:
        match state:
            case None | A.NORMAL:
                return Change("raised", state, A.ACTIVE_UNACK, True)
            case A.CLEARED_UNACK:
                return Change("returned", state, A.ACTIVE_UNACK, True)
            case A.ACTIVE_UNACK | A.ACTIVE_ACK:
                if severity is not None and draft.severity.rank > severity.rank:
                    # Worse than what was acknowledged: it needs a new acknowledgement.
                    return Change("severity_raised", state, A.ACTIVE_UNACK, True)
                if condition != draft.condition:
                    return Change("updated", state, state, False)
                return None
    if condition is not None and condition.startswith("predicted_") \
            and state in (A.ACTIVE_UNACK, A.ACTIVE_ACK):
        # A prediction that did not come true: withdrawn, nothing to acknowledge or page.
        return Change("withdrawn", state, A.NORMAL, False)
    match state:
        case A.ACTIVE_UNACK:
            return Change("cleared", state, A.CLEARED_UNACK, True)
        case A.ACTIVE_ACK:
            return Change("cleared", state, A.NORMAL, True)
        case _:
            return None


def on_ack(state: AlertState) -> Change | None:
    match state:
        case A.ACTIVE_UNACK:
            return Change("acknowledged", state, A.ACTIVE_ACK, False)
        case A.CLEARED_UNACK:
            return Change("acknowledged", state, A.NORMAL, False)
        case _:
            return None


def needs_escalation(state: AlertState) -> bool:
    """Only an alert nobody has acknowledged climbs the escalation ladder."""
    return state in (A.ACTIVE_UNACK, A.CLEARED_UNACK)
