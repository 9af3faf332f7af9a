"""The monitor's tables: rule versions, findings, watermarks (migration 0100_monitor.sql);
the queries are in queries.sql, loaded by name. Derived readings (heat power) are ingest's:
they go in through `services.ingest.derived`, in the same transaction as the findings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from pydantic import TypeAdapter

from heatlink.cluster.rule_spec import RuleSpec
from heatlink.findings import Finding
from heatlink.sqlfile import load_queries
from services.ingest.derived import DerivedReadings, StoredReadings
from services.monitor.fence import Fence
from services.monitor.group import AnyRule, VersionedRule
from services.readings import store as readings

CLUSTER_FILE = "cluster-file"
# Derived readings (heat power) as parallel lists: series key, plant time, value.
DerivedRows = tuple[list[str], list[datetime], list[float]]
_QUERIES = Path(__file__).with_name("queries.sql")
_SPEC: TypeAdapter[AnyRule] = TypeAdapter(RuleSpec)

_FINDING_COLUMNS = ("rule_id", "rule_version", "kind", "series", "owner", "severity", "state",
                    "previous_state", "ts", "since_ts", "detected_at", "late", "value",
                    "slope_per_h", "predicted_time_to_limit_s", "reference_value", "detail")


@dataclass(frozen=True)
class RuleVersionRow:
    rule_id: str
    version: int
    spec: dict[str, Any]
    previous: dict[str, Any] | None
    changed_by: str
    changed_at: datetime
    reason: str | None
    actor: str | None = None


@dataclass(frozen=True)
class StoredState:
    rule_id: str
    series: str
    state: str
    ts: datetime
    since_ts: datetime
    reference_value: float | None


@dataclass(frozen=True)
class FindingFilter:
    rule_id: str | None = None
    series: str | None = None
    state: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    late: bool | None = None
    limit: int = 100


def spec_json(spec: AnyRule) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def parse_spec(raw: Mapping[str, Any]) -> AnyRule:
    return _SPEC.validate_python(dict(raw))


def q(name: str) -> str:
    return load_queries(_QUERIES)[name]


def _by_time(watermarks: Mapping[str, datetime]) -> str:
    """Watermarks as the JSON text the watermark queries take: {time: [series, ...]}, each
    time in RFC 3339 with its offset and every microsecond, as orjson writes an aware
    datetime (PostgreSQL reads back the same instant)."""
    groups: dict[datetime, list[str]] = {}
    for series, ts in watermarks.items():
        groups.setdefault(ts, []).append(series)
    return orjson.dumps({orjson.dumps(ts).decode()[1:-1]: keys
                         for ts, keys in groups.items()}).decode()


def _finding(row: asyncpg.Record) -> Finding:
    return Finding(**{c: row[c] for c in _FINDING_COLUMNS})


class MonitorStore:
    def __init__(self, pool: asyncpg.Pool, derived: DerivedReadings | None = None) -> None:
        self.pool = pool
        # Where heat power is stored: ingest's store (None: not stored, the engine alone).
        self.derived = derived

    # -- rules ---------------------------------------------------------------------------

    async def sync_rules(self, specs: Sequence[AnyRule], now: datetime) -> list[VersionedRule]:
        """The running version of each rule of the cluster file.

        A rule seen first becomes version 1. A rule changed in the file becomes a new
        version, unless its last change came through the API: a change made by its owner
        is not undone by a file that predates it.
        """
        out = []
        async with self.pool.acquire() as conn, conn.transaction():
            for spec in specs:
                await conn.execute(q("lock_rule"), spec.id)
                row = await conn.fetchrow(q("latest_rule_version"), spec.id)
                wanted = spec_json(spec)
                if row is None:
                    version = await self._insert(conn, spec, 1, None, CLUSTER_FILE, now, None)
                    out.append(VersionedRule(spec, version))
                    continue
                stored = json.loads(row["spec"])
                if stored == wanted or row["changed_by"] != CLUSTER_FILE:
                    out.append(VersionedRule(parse_spec(stored), row["version"]))
                    continue
                version = await self._insert(conn, spec, row["version"] + 1, stored,
                                             CLUSTER_FILE, now, "cluster file changed")
                out.append(VersionedRule(spec, version))
        return out

    async def change_rule(self, new: AnyRule, by: str, now: datetime,
                          reason: str | None, actor: str | None = None) -> VersionedRule:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(q("lock_rule"), new.id)
            row = await conn.fetchrow(q("latest_rule_version"), new.id)
            if row is None:
                raise KeyError(new.id)
            version = await self._insert(conn, new, row["version"] + 1, json.loads(row["spec"]),
                                         by, now, reason, actor)
        return VersionedRule(new, version)

    @staticmethod
    async def _insert(conn: asyncpg.Connection, spec: AnyRule, version: int,
                      previous: dict[str, Any] | None, by: str, now: datetime,
                      reason: str | None, actor: str | None = None) -> int:
        await conn.execute(
            q("insert_rule_version"), spec.id, version, spec.kind, spec.owner,
            json.dumps(spec_json(spec)),
            None if previous is None else json.dumps(previous), by, now, reason, actor)
        return version

    async def rule_versions(self, rule_id: str) -> list[RuleVersionRow]:
        rows = await self.pool.fetch(q("rule_versions"), rule_id)
        return [RuleVersionRow(r["rule_id"], r["version"], json.loads(r["spec"]),
                               None if r["previous"] is None else json.loads(r["previous"]),
                               r["changed_by"], r["changed_at"], r["reason"], r["actor"])
                for r in rows]

    # -- findings ------------------------------------------------------------------------

    async def save(self, findings: Sequence[Finding], watermarks: Mapping[str, datetime],
                   derived: DerivedRows | None = None, fence: Fence | None = None
                   ) -> tuple[list[int], StoredReadings]:
        """Store findings (idempotent), derived readings (through ingest's store) and
        watermarks in one transaction; returns the ids of the findings (new or already
        stored) and the derived readings newly stored, for ingest's observers once the
        caller knows the commit happened. With ``fence`` (a partitioned monitor) nothing is
        stored unless the partitions are still held."""
        ids: list[int] = []
        stored = StoredReadings()
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await fence.check(conn)
            if derived is not None and derived[0] and self.derived is not None:
                stored = await self.derived.write(conn, *derived)
            for f in findings:
                values = [getattr(f, c) for c in _FINDING_COLUMNS]
                fid = await conn.fetchval(
                    f"INSERT INTO monitor_findings ({', '.join(_FINDING_COLUMNS)}) VALUES "
                    f"({', '.join(f'${i + 1}' for i in range(len(values)))})"
                    " ON CONFLICT (rule_id, rule_version, series, ts, state) DO NOTHING"
                    " RETURNING id", *values)
                if fid is None:
                    fid = await conn.fetchval(q("finding_id"), *f.key)
                ids.append(int(fid))
            if watermarks:
                marks = _by_time(watermarks)
                moved = await conn.execute(q("move_watermarks"), marks)
                if int(moved.rpartition(" ")[2]) < len(watermarks):
                    await conn.execute(q("add_watermarks"), marks)
        return ids, stored

    async def mark_handed_over(self, ids: Sequence[int], now: datetime) -> None:
        await self.pool.execute(q("mark_handed_over"), list(ids), now)

    async def not_handed_over(self) -> list[tuple[int, Finding]]:
        rows = await self.pool.fetch(q("not_handed_over"))
        return [(r["id"], _finding(r)) for r in rows]

    async def latest_states(self) -> list[StoredState]:
        rows = await self.pool.fetch(q("latest_states"))
        return [StoredState(r["rule_id"], r["series"], r["state"], r["ts"], r["since_ts"],
                            r["reference_value"]) for r in rows]

    async def watermarks(self) -> dict[str, datetime]:
        rows = await self.pool.fetch(q("watermarks"))
        return {r["series"]: r["ts"] for r in rows}

    async def list_findings(self, flt: FindingFilter, visible_to: tuple[str, Sequence[str]]
                            | None = None) -> list[tuple[int, Finding]]:
        """Newest first. ``visible_to`` = (organisation, series it may read): only findings
        of its own rules or on those series."""
        where, args = [], []

        def add(clause: str, value: object) -> None:
            args.append(value)
            where.append(clause.replace("?", f"${len(args)}"))

        for column in ("rule_id", "series", "state", "kind"):
            value = getattr(flt, column)
            if value is not None:
                add(f"{column} = ?", value)
        if flt.since is not None:
            add("ts >= ?", flt.since)
        if flt.until is not None:
            add("ts < ?", flt.until)
        if flt.late is not None:
            add("late = ?", flt.late)
        if visible_to is not None:
            org, series = visible_to
            args.append(org)
            args.append(list(series))
            where.append(f"(owner = ${len(args) - 1} OR series = ANY(${len(args)}::text[]))")
        args.append(flt.limit)
        sql = ("SELECT * FROM monitor_findings"
               + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY ts DESC, id DESC LIMIT ${len(args)}")
        return [(r["id"], _finding(r)) for r in await self.pool.fetch(sql, *args)]

    async def energy_kwh(self, series: str, since: datetime, until: datetime,
                         max_gap_s: float) -> tuple[float, int]:
        """Energy delivered by a heat-power series (kW) in [since, until), as the readings
        domain sums it (services/readings/store.py). Returns (kWh, readings used)."""
        return await readings.energy_kwh(self.pool, series, since, until, max_gap_s)

    async def readings_since(self, since: datetime) -> list[asyncpg.Record]:
        """Stored readings after ``since`` (plant time), oldest first: the restart replay."""
        return await readings.readings_since(self.pool, since)
