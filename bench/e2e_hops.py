"""The end-to-end benchmark's figures: each change's way through the system, cut into hops
at instants the system records (see `bench.e2e` for what each one is)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson

HOPS = ("gateway", "ingest", "monitor", "alert pipeline", "delivery")


@dataclass(frozen=True)
class Journey:
    """Wall-clock seconds (epoch) at each boundary of one change's way."""

    source: float  # the plant's source timestamp of the change
    sent: float  # the gateway's uplink began the POST carrying it
    stored: float  # ingest answered the gateway, or the monitor began on it if earlier
    taken: float  # the alert service took the finding
    claimed: float  # the delivery worker claimed the delivery
    arrived: float  # the webhook receiver read the message

    @property
    def total(self) -> float:
        return self.arrived - self.source

    def hops(self) -> tuple[float, ...]:
        return (self.sent - self.source, self.stored - self.sent, self.taken - self.stored,
                self.claimed - self.taken, self.arrived - self.claimed)


def _key(series: str, ts_s: float) -> tuple[str, float]:
    return series, round(ts_s, 6)


def read_batches(path: Path) -> dict[tuple[str, float], tuple[float, float]]:
    """(series, source time) → (sent, answered), from the gateway's timed uplink; the first
    send of a reading counts (a resend would only add the retry's wait)."""
    out: dict[tuple[str, float], tuple[float, float]] = {}
    for line in path.read_bytes().splitlines():
        batch = orjson.loads(line)
        for series, ts_s in batch["readings"]:
            out.setdefault(_key(series, ts_s), (batch["sent"], batch["answered"]))
    return out


def read_arrivals(path: Path) -> dict[int, float]:
    out: dict[int, float] = {}
    for line in path.read_text().splitlines():
        transition, at = line.split()
        out.setdefault(int(transition), float(at))
    return out


async def journeys(url: str, rule_prefix: str, since: datetime, batches_path: Path,
                   arrivals_path: Path) -> tuple[list[Journey], int]:
    """Every change whose finding was made since ``since``, followed to the webhook; and
    how many findings could not be followed all the way (not delivered, not matched)."""
    conn = await asyncpg.connect(url)
    try:
        findings = await conn.fetch(
            """SELECT rule_id, series, ts, state, detected_at FROM monitor_findings
               WHERE rule_id LIKE $1 AND detected_at >= $2
               ORDER BY ts""", rule_prefix + "%", since)
        seen = await conn.fetch("SELECT finding_key, seen_at FROM alert_findings_seen "
                                "WHERE finding_key LIKE $1", rule_prefix + "%")
        transitions = await conn.fetch(
            """SELECT t.id, t.at, a.rule_id FROM alert_transitions t
               JOIN alerts a ON a.id = t.alert_id
               WHERE a.rule_id LIKE $1 AND t.actor = 'monitor'""", rule_prefix + "%")
        claims = await conn.fetch(
            """SELECT d.transition_id, min(a.at) AS claimed_at FROM alert_deliveries d
               JOIN alert_delivery_attempts a ON a.delivery_id = d.id
               GROUP BY d.transition_id""")
    finally:
        await conn.close()
    # The alert service keys a finding as rule|version|series|ts|state and takes it at the
    # instant its transition is recorded: both read one clock once per hand-over.
    taken_at: dict[tuple[str, str, float, str], datetime] = {}
    for row in seen:
        rule_id, _version, series, ts, state = row["finding_key"].split("|")
        taken_at[(rule_id, series, round(datetime.fromisoformat(ts).timestamp(), 6),
                  state)] = row["seen_at"]
    transition_of = {(t["rule_id"], t["at"]): t["id"] for t in transitions}
    claimed_at = {c["transition_id"]: c["claimed_at"].timestamp() for c in claims}
    sent = read_batches(batches_path)
    arrived = read_arrivals(arrivals_path)
    out: list[Journey] = []
    for f in findings:
        ts_s = f["ts"].timestamp()
        taken = taken_at.get((f["rule_id"], f["series"], round(ts_s, 6), f["state"]))
        times = sent.get(_key(f["series"], ts_s))
        transition = transition_of.get((f["rule_id"], taken)) if taken else None
        if taken is None or times is None or transition is None \
                or transition not in claimed_at or transition not in arrived:
            continue
        out.append(Journey(ts_s, times[0], min(times[1], f["detected_at"].timestamp()),
                           taken.timestamp(), claimed_at[transition], arrived[transition]))
    return out, len(findings) - len(out)


def quantile_ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def report(found: list[Journey]) -> list[str]:
    totals = [j.total for j in found]
    lines = [f"source change → webhook: p50 {quantile_ms(totals, 0.5):.0f} ms, "
             f"p99 {quantile_ms(totals, 0.99):.0f} ms, max {max(totals) * 1000:.0f} ms "
             f"over {len(found)} changes (target p99 < 500 ms)",
             f"{'hop':<16}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'share':>8}"]
    per_hop = list(zip(*(j.hops() for j in found), strict=True))
    whole = sum(totals)
    for name, spans in zip(HOPS, per_hop, strict=True):
        lines.append(f"{name:<16}{quantile_ms(list(spans), 0.5):>8.0f}"
                     f"{quantile_ms(list(spans), 0.99):>8.0f}{max(spans) * 1000:>8.0f}"
                     f"{sum(spans) / whole:>8.0%}")
    slowest = max(found, key=lambda j: j.total)
    lines.append("slowest change, per hop (ms): " + ", ".join(
        f"{name} {span * 1000:.0f}" for name, span in zip(HOPS, slowest.hops(), strict=True)))
    lines.append(f"(shares are of the summed time; the mean is "
                 f"{statistics.fmean(totals) * 1000:.0f} ms)")
    return lines
