"""The state each asset and exchange is coloured by, behind a small provider interface.

The dashboard asks a ``StateProvider``; the first implementation judges from latest
values alone (their age and the exchanges' supply bands). The monitor and the alert
engine plug in later by implementing the same protocol (and ``WorstOf`` combines them),
without the dashboard changing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Protocol

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import SupplyBand


class State(StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    ALARM = "alarm"
    UNKNOWN = "unknown"
    PLANNED_OUTAGE = "planned_outage"


# Which state wins when several apply to one thing: the one needing attention first.
_RANK = {State.NORMAL: 0, State.PLANNED_OUTAGE: 1, State.UNKNOWN: 2, State.WARNING: 3,
         State.ALARM: 4}


@dataclass(frozen=True)
class Status:
    state: State
    reason: str  # in English, for API clients and logs
    # The same in the dashboard's catalogue (services/dashboard/messages), for other
    # languages: a message key and its values. None: show ``reason`` as it is.
    key: str | None = None
    values: Mapping[str, str | float] = field(default_factory=dict)


def worst(statuses: Iterable[Status]) -> Status | None:
    found = list(statuses)
    return max(found, key=lambda s: _RANK[s.state]) if found else None


@dataclass(frozen=True)
class Latest:
    ts: datetime
    value: float


@dataclass(frozen=True)
class Viewer:
    """Who the states are for: an organisation and the series it may read."""

    org: str
    visible: frozenset[str]
    exchanges: frozenset[str] = frozenset()  # exchanges it is a party to (all, for the
    #                                           facilitator)


@dataclass
class Statuses:
    """State per asset id and per exchange id; a missing entry means "no opinion"."""

    assets: dict[str, Status] = field(default_factory=dict)
    exchanges: dict[str, Status] = field(default_factory=dict)


class StateProvider(Protocol):
    """Called by the dashboard for every snapshot (first load and each refresh, every
    few seconds per open page): must answer fast and may be called concurrently.

    ``viewer.visible`` is what the caller may read; a provider must not let a state reveal
    anything derived from other series or other companies' alerts (answer unknown, or
    nothing, instead). ``latest`` holds the latest value of each visible series that has
    one. Reading only, so a retry is always safe.
    """

    async def statuses(self, viewer: Viewer, latest: Mapping[str, Latest],
                       now: datetime) -> Statuses: ...


class LatestValueStates:
    """States from latest values: stale or missing is unknown; a supply-band value
    outside the band is alarm, inside its outer ``warn_margin`` (share of the band
    width) is warning."""

    def __init__(self, index: ClusterIndex, stale_after_s: float = 120.0,
                 warn_margin: float = 0.1) -> None:
        self.index = index
        self.stale_after_s = stale_after_s
        self.warn_margin = warn_margin

    async def statuses(self, viewer: Viewer, latest: Mapping[str, Latest],
                       now: datetime) -> Statuses:
        visible = viewer.visible
        fresh = {k: v for k, v in latest.items() if k in visible
                 and (now - v.ts).total_seconds() <= self.stale_after_s}
        out = Statuses()
        for exchange in self.index.cluster.exchanges:
            out.exchanges[exchange.id] = self._exchange(exchange.supply_band, visible, fresh)
        for asset_id in self.index.assets:
            out.assets[asset_id] = self._asset(asset_id, visible, fresh, out.exchanges)
        for asset_id in self.index.assets:
            if asset_id not in self._measured:
                out.assets[asset_id] = self._as_upstream(asset_id, out.assets)
        return out

    @cached_property
    def _measured(self) -> frozenset[str]:
        related = {e.exchanger for e in self.index.cluster.exchanges}
        related |= {a for e in self.index.cluster.exchanges for a in e.recipient_assets}
        return frozenset({s.asset for s in self.index.series.values()} | related)

    @cached_property
    def _feeders(self) -> dict[str, list[str]]:
        feeders: dict[str, list[str]] = {a: [] for a in self.index.assets}
        for asset in self.index.assets.values():
            for target in asset.feeds:
                if target in feeders:
                    feeders[target].append(asset.id)
        return feeders

    def _as_upstream(self, asset_id: str, assets: Mapping[str, Status]) -> Status:
        """An unmeasured asset (a pipe) carries what its feeders carry."""
        found = worst(assets[f] for f in self._feeders[asset_id] if f in assets)
        if found is None:
            return Status(State.UNKNOWN, "not measured", "reason.not_measured")
        return Status(found.state, f"not measured; upstream: {found.reason}",
                      found.key and "reason.upstream", {"key": found.key or "", **found.values})

    def _exchange(self, band: SupplyBand | None, visible: frozenset[str],
                  fresh: Mapping[str, Latest]) -> Status:
        if band is None:
            return Status(State.UNKNOWN, "the contract names no supply band", "reason.no_band")
        if band.series not in visible:
            return Status(State.UNKNOWN, "the supply temperature is not shared with you",
                          "reason.not_shared")
        value = fresh.get(band.series)
        if value is None:
            return Status(State.UNKNOWN, f"no value of {band.series} in the last "
                          f"{self.stale_after_s:.0f} s", "reason.no_value",
                          {"series": band.series, "s": self.stale_after_s})
        margin = (band.high - band.low) * self.warn_margin
        v = value.value
        values = {"v": v, "low": band.low, "high": band.high}
        if v < band.low or v > band.high:
            return Status(State.ALARM, f"supply {v:.1f} outside the band "
                          f"{band.low:g}–{band.high:g}", "reason.outside", values)
        if v < band.low + margin or v > band.high - margin:
            return Status(State.WARNING, f"supply {v:.1f} near the edge of the band "
                          f"{band.low:g}–{band.high:g}", "reason.edge", values)
        return Status(State.NORMAL, f"supply {v:.1f} within {band.low:g}–{band.high:g}",
                      "reason.within", values)

    def _asset(self, asset_id: str, visible: frozenset[str], fresh: Mapping[str, Latest],
               exchanges: Mapping[str, Status]) -> Status:
        related = [exchanges[e.id] for e in self.index.cluster.exchanges
                   if e.exchanger == asset_id or asset_id in e.recipient_assets]
        own = [k for k, s in self.index.series.items() if s.asset == asset_id and k in visible]
        if own:
            live = [k for k in own if k in fresh]
            related.append(Status(State.NORMAL, f"{len(live)} of {len(own)} series live",
                                  "reason.live", {"n": len(live), "of": len(own)})
                           if live else Status(State.UNKNOWN, "no recent values",
                                               "reason.no_recent"))
        return worst(related) or Status(State.UNKNOWN, "no series of this asset are visible",
                                        "reason.none_visible")


class WorstOf:
    """Several providers at once; per thing, the state needing attention first wins."""

    def __init__(self, providers: Iterable[StateProvider]) -> None:
        self.providers = list(providers)

    async def statuses(self, viewer: Viewer, latest: Mapping[str, Latest],
                       now: datetime) -> Statuses:
        out = Statuses()
        for provider in self.providers:
            got = await provider.statuses(viewer, latest, now)
            for mine, theirs in ((out.assets, got.assets), (out.exchanges, got.exchanges)):
                for key, status in theirs.items():
                    mine[key] = worst([status, *([mine[key]] if key in mine else [])]) or status
        return out


class PlannedFirst:
    """A planned outage replaces every other judgement of the same exchange or asset:
    a supply stopped on purpose is out of its band, and that is expected."""

    def __init__(self, planned: StateProvider, rest: StateProvider) -> None:
        self.planned = planned
        self.rest = rest

    async def statuses(self, viewer: Viewer, latest: Mapping[str, Latest],
                       now: datetime) -> Statuses:
        out = await self.rest.statuses(viewer, latest, now)
        planned = await self.planned.statuses(viewer, latest, now)
        out.assets.update(planned.assets)
        out.exchanges.update(planned.exchanges)
        return out
