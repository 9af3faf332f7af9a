"""Versioned substitution rules, agreed by both parties.

Version 1 is the rule the cluster file holds (the contract both signed). Either party may
propose a new version; it takes effect when the other party agrees to it. Open months use
the newest agreed version; a closed month keeps the version it was closed with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from heatlink.cluster.metering import SubstitutionRule
from heatlink.cluster.model import Exchange
from services.accounting.store import Conn, audit, q

CONTRACT = "cluster-file"


@dataclass(frozen=True)
class RuleVersion:
    version: int
    spec: dict[str, Any]
    reason: str
    proposed_by_org: str
    proposed_by: str
    proposed_at: datetime
    agreed_by_org: str | None
    agreed_by: str | None
    agreed_at: datetime | None

    @property
    def rule(self) -> SubstitutionRule:
        return SubstitutionRule.model_validate(self.spec)

    def public(self) -> dict[str, Any]:
        return {"version": self.version, "rule": self.spec, "reason": self.reason,
                "proposed_by_org": self.proposed_by_org, "proposed_by": self.proposed_by,
                "proposed_at": self.proposed_at, "agreed_by_org": self.agreed_by_org,
                "agreed_by": self.agreed_by, "agreed_at": self.agreed_at}


async def versions(db: Conn, exchange: str) -> list[RuleVersion]:
    rows = await db.fetch(q("rules"), exchange)
    return [RuleVersion(r["version"], json.loads(r["spec"]), r["reason"], r["proposed_by_org"],
                        r["proposed_by"], r["proposed_at"], r["agreed_by_org"], r["agreed_by"],
                        r["agreed_at"]) for r in rows]


async def seed_from_contract(pool: asyncpg.Pool, exchange: Exchange, now: datetime) -> None:
    """Version 1 from the cluster file, once; later versions come only through the API."""
    settlement = exchange.settlement
    if settlement is None or settlement.substitution is None:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q("lock_rules"), exchange.id)
        if await versions(conn, exchange.id):
            return
        spec = json.dumps(settlement.substitution.model_dump(mode="json", exclude_none=True))
        await conn.fetchval(q("propose_rule"), exchange.id, spec, "as signed in the contract",
                            CONTRACT, CONTRACT, now, CONTRACT, CONTRACT, now)


async def propose(pool: asyncpg.Pool, exchange: str, rule: SubstitutionRule, reason: str,
                  org: str, actor: str, now: datetime) -> int:
    spec = rule.model_dump(mode="json", exclude_none=True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q("lock_rules"), exchange)
        version: int = await conn.fetchval(q("propose_rule"), exchange, json.dumps(spec),
                                           reason, org, actor, now, None, None, None)
        await audit(conn, now, exchange, org, actor, "substitution_rule_proposed",
                    {"version": version, "rule": spec, "reason": reason})
    return version


async def agree(pool: asyncpg.Pool, exchange: str, version: int, org: str, actor: str,
                now: datetime) -> str | None:
    """None when agreed; else why not (for a 404 or 409)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q("lock_rules"), exchange)
        found = {v.version: v for v in await versions(conn, exchange)}
        target = found.get(version)
        if target is None:
            return f"no substitution rule version {version}"
        if target.agreed_at is not None:
            return f"version {version} was already agreed by {target.agreed_by_org}"
        if target.proposed_by_org == org:
            return ("the party that proposed a version cannot agree to it; the other party "
                    "does")
        if any(v.version > version and v.agreed_at is not None for v in found.values()):
            return f"a newer version than {version} is already in force"
        await conn.execute(q("agree_rule"), exchange, version, org, actor, now)
        await audit(conn, now, exchange, org, actor, "substitution_rule_agreed",
                    {"version": version})
    return None
