"""The accounting use cases that write: closing a month, opening a revision, commenting on
a disputed hour, proposing and agreeing a substitution rule.

Each is the two parties' alone (the router checks the ``settle`` scope first), returns
its outcome as a value, and leaves an audit row (who, when, what) in the same
transaction as the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from heatlink.cluster.metering import SubstitutionRule
from heatlink.cluster.model import Exchange
from services.accounting import closing, rules
from services.accounting.access import may_act, parties
from services.accounting.months import HOUR, Month
from services.accounting.reconcile import DISPUTED
from services.accounting.service import AccountingService
from services.accounting.store import audit, q


@dataclass(frozen=True)
class Done:
    detail: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str


Outcome = Done | Refused

_NOT_A_PARTY = Refused(403, "only the supplier and the recipient of the exchange act on its "
                       "accounting; the facilitator reads")


async def close_month(svc: AccountingService, exchange: Exchange, month: Month, org: str,
                      actor: str) -> Outcome:
    if not may_act(exchange, org):
        return _NOT_A_PARTY
    now = svc.clock.now()
    if now < month.end(svc.tz):
        return Refused(409, f"{month} has not ended yet; it can be closed from "
                       f"{month.end(svc.tz).isoformat()}")
    await svc.close_if_due(exchange, month)
    state = await closing.state(svc.pool, exchange.id, month)
    if state.open_revision is None:
        return Refused(409, f"{month} is closed as revision {state.latest_closed}; open a new "
                       "revision with a reason to correct it")
    asked = await closing.request_close(svc.pool, exchange.id, month, state.open_revision,
                                        org, actor, now)
    if set(parties(exchange)) <= set(asked):
        closed = await closing.freeze(
            svc.pool, exchange.id, month, tuple(sorted(asked)), now,
            lambda standing: svc.frozen(exchange, month, standing),
            only_revision=state.open_revision)
        return Done({"month": str(month), "revision": closed or state.open_revision,
                     "status": "closed", "close_requested_by": sorted(asked)})
    return Done({"month": str(month), "revision": state.open_revision, "status": "open",
                 "close_requested_by": sorted(asked),
                 "waiting_for": sorted(set(parties(exchange)) - set(asked))})


async def open_revision(svc: AccountingService, exchange: Exchange, month: Month, org: str,
                        actor: str, reason: str) -> Outcome:
    if not may_act(exchange, org):
        return _NOT_A_PARTY
    state = await closing.state(svc.pool, exchange.id, month)
    if state.latest_closed is None:
        return Refused(409, f"{month} is not closed; its figures still follow the readings")
    if state.open_revision is not None:
        return Refused(409, f"revision {state.open_revision} of {month} is already open "
                       f"({state.reason})")
    revision = state.latest_closed + 1
    await closing.reopen(svc.pool, exchange.id, month, revision, reason, org, actor,
                         svc.clock.now())
    return Done({"month": str(month), "revision": revision, "status": "open",
                 "reason": reason})


async def comment(svc: AccountingService, exchange: Exchange, hour: datetime, resource: str,
                  org: str, actor: str, text: str) -> Outcome:
    if not may_act(exchange, org):
        return _NOT_A_PARTY
    if hour.minute or hour.second or hour.microsecond:
        return Refused(422, "hour must be the start of an hour, e.g. 2026-01-15T06:00:00Z")
    hours = await svc.energy(exchange, hour, hour + HOUR)
    entry = hours[0].get(resource) if hours else None
    if entry is None:
        return Refused(404, f"no {resource} figure for {hour.isoformat()} on this exchange")
    if entry["verdict"] != DISPUTED:
        return Refused(409, f"the {resource} figures of {hour.isoformat()} are "
                       f"{entry['verdict'] or 'from one meter'}, not disputed; comments "
                       "belong to disputed hours")
    now = svc.clock.now()
    async with svc.pool.acquire() as conn, conn.transaction():
        comment_id = await conn.fetchval(q("add_comment"), exchange.id, hour, resource, org,
                                         actor, now, text)
        await audit(conn, now, exchange.id, org, actor, "comment_added",
                    {"id": comment_id, "hour": hour.isoformat(), "resource": resource,
                     "text": text})
    return Done({"id": comment_id, "hour": hour.isoformat(), "resource": resource,
                 "org": org, "author": actor, "at": now.isoformat(), "text": text})


async def propose_rule(svc: AccountingService, exchange: Exchange, rule: SubstitutionRule,
                       reason: str, org: str, actor: str) -> Outcome:
    if not may_act(exchange, org):
        return _NOT_A_PARTY
    version = await rules.propose(svc.pool, exchange.id, rule, reason, org, actor,
                                  svc.clock.now())
    return Done({"version": version, "rule": json.loads(rule.model_dump_json(
        exclude_none=True)), "status": "proposed",
        "waiting_for": [p for p in parties(exchange) if p != org]})


async def agree_rule(svc: AccountingService, exchange: Exchange, version: int, org: str,
                     actor: str) -> Outcome:
    if not may_act(exchange, org):
        return _NOT_A_PARTY
    problem = await rules.agree(svc.pool, exchange.id, version, org, actor, svc.clock.now())
    if problem is not None:
        return Refused(404 if problem.startswith("no ") else 409, problem)
    return Done({"version": version, "status": "agreed", "agreed_by_org": org})
