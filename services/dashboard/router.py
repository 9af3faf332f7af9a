"""GET / (the page), GET /static/… (its files) and GET /v1/dashboard (its snapshot)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from heatlink.cluster.index import ClusterIndex
from heatlink.quality import QUALITY_NAMES
from services.access import log as access_log
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.dashboard import i18n
from services.dashboard.own import RATE_WINDOW_S, lost_supplies, slope_per_h
from services.dashboard.own import limits_of as own_limits
from services.dashboard.own_schemas import OwnViewOut
from services.dashboard.runtime import Dashboard
from services.dashboard.schemas import SnapshotOut
from services.dashboard.state import (
    Latest,
    Viewer,
)
from services.deps import ClockDep, IndexDep, Part, PoolDep
from services.monitor.group import AnyRule
from services.monitor.router import Monitor
from services.monitor.runtime import MonitorRuntime
from services.readings import store

router = APIRouter()
# The app binds it at start (`services/runtimes.py`).
dashboard_part = Part[Dashboard]("dashboard")
DashboardDep = Annotated[Dashboard, Depends(dashboard_part)]
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
REFRESH_S = 10.0
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


_SMOLT_HX = "glomfjord/smelter/hx1"
_EXAMPLE = {
    "cluster": "Nordland example cluster", "timezone": "Europe/Oslo", "org": "fjordsmolt",
    "generated_at": "2026-01-15T06:00:05Z", "refresh_s": 10.0,
    "nodes": [{"id": _SMOLT_HX, "name": "Plate exchanger HX-1", "kind": "heat_exchanger",
               "owner": "glomfjord-smelter", "site": "glomfjord", "role": "exchanger",
               "depth": 1, "state": "normal", "reason": "supply 18.4 within 14–22",
               "series": [f"{_SMOLT_HX}/secondary/supply_temp"]}],
    "edges": [{"source": "glomfjord/smelter/furnace", "target": _SMOLT_HX}],
    "exchanges": [{
        "id": "glomfjord-smolt", "name": "Smelter cooling water to Fjordsmolt",
        "supplier": "glomfjord-smelter", "recipient": "fjordsmolt", "exchanger": _SMOLT_HX,
        "recipient_assets": ["glomfjord/smoltfarm/tank1"], "contracted_power_kw": 8000,
        "supply_band": {"series": f"{_SMOLT_HX}/secondary/supply_temp", "low": 14, "high": 22},
        "notice_period_h": 72, "state": "normal", "reason": "supply 18.4 within 14–22",
        "power_kw": 6650.0,
        "primary": {"supply_temp": None, "return_temp": None, "flow": None, "power": None},
        "secondary": {"supply_temp": f"{_SMOLT_HX}/secondary/supply_temp",
                      "return_temp": f"{_SMOLT_HX}/secondary/return_temp",
                      "flow": f"{_SMOLT_HX}/secondary/flow",
                      "power": f"{_SMOLT_HX}/secondary/power"}}],
    "series": [{"key": f"{_SMOLT_HX}/secondary/supply_temp", "asset": _SMOLT_HX,
                "quantity": "temperature", "unit": "degC", "owner": "glomfjord-smelter"}],
    "latest": {f"{_SMOLT_HX}/secondary/supply_temp": {
        "ts": "2026-01-15T06:00:00Z", "value": 18.4, "quality": "good", "age_s": 5.0}},
}


def _static_root() -> Path:
    return Path(str(resources.files("services.dashboard") / "static"))


@router.get("/", include_in_schema=False)
async def page(request: Request) -> HTMLResponse:
    # The page holds no data (it asks for a login, then for /v1/dashboard): only its
    # language, chosen per request, and that language's texts.
    lang = i18n.choose(request.cookies.get(i18n.LANG_COOKIE),
                       request.headers.get("accept-language"))
    html = (_static_root() / "index.html").read_text(encoding="utf-8")
    texts = json.dumps(i18n.catalogue(lang), ensure_ascii=False).replace("</", "<\\/")
    html = html.replace('<html lang="en">', f'<html lang="{lang}">', 1).replace(
        '<script type="application/json" id="messages">{}</script>',
        f'<script type="application/json" id="messages">{texts}</script>', 1)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache",
                                       "Vary": "Cookie, Accept-Language"})


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str) -> FileResponse:
    root = _static_root().resolve()
    try:
        target = (root / path).resolve()
        found = root in target.parents and target.is_file() and target.suffix in _TYPES
    except (ValueError, OSError):  # a NUL in the name, a name longer than the system takes
        found = False
    if not found:
        raise HTTPException(404, "no such file")
    # Vendored files never change under one name; ours are revalidated.
    cache = "max-age=86400" if "vendor" in target.parts else "no-cache"
    return FileResponse(target, media_type=_TYPES[target.suffix],
                        headers={"Cache-Control": cache})


LOG_EVERY_S = 300.0


def _not_logged_lately(logged: dict[tuple[str, str], float], org: str, index: ClusterIndex,
                       keys: Iterable[str]) -> list[tuple[str, str]]:
    """Reads to log: an open page refreshes every few seconds, and one access-log row per
    series and organisation every five minutes says as much as one per refresh."""
    now = time.monotonic()
    due = [(index.series[k].owner, k) for k in keys
           if now - logged.get((org, k), -LOG_EVERY_S) >= LOG_EVERY_S]
    for _, key in due:
        logged[(org, key)] = now
    return due


@router.get("/v1/dashboard", response_model=SnapshotOut, tags=["dashboard"],
            summary="The cluster as the caller may see it: graph, exchanges, states, "
                    "latest values",
            description="What the dashboard at `/` loads first and then every `refresh_s` "
                        "seconds for states; live values come from `GET /v1/stream`. "
                        "States are normal, warning, alarm, unknown or planned_outage.",
            responses={200: {"content": {"application/json": {"example": _EXAMPLE}}},
                       401: {"description": "Missing or unknown token"}})
async def snapshot(principal: Reader, dashboard: DashboardDep, index: IndexDep,
                   pool: PoolDep, clock: ClockDep) -> SnapshotOut:
    visible = index.visible_series(principal.org)
    now = clock.now()
    rows = [r for r in await store.latest(pool, visible) if r["ts"] is not None]
    latest = {r["key"]: Latest(ts=r["ts"], value=r["value"]) for r in rows}
    quality = {r["key"]: QUALITY_NAMES[r["quality"]] for r in rows}
    facilitator = index.is_facilitator(principal.org)
    exchanges = frozenset(e.id for e in index.cluster.exchanges
                          if facilitator or principal.org in (e.supplier, e.recipient))
    viewer = Viewer(principal.org, visible, exchanges)
    statuses = await dashboard.states.statuses(viewer, latest, now)
    await access_log.log_access(pool, principal.org,
                                _not_logged_lately(dashboard.logged, principal.org, index,
                                                   latest), "dashboard")
    return dashboard.view.snapshot(principal.org, visible, latest, quality, statuses, now,
                                   REFRESH_S)


def _rules(monitor: MonitorRuntime) -> list[AnyRule]:
    """The rules as they run now (a limit may have changed since the cluster file)."""
    return [r.spec for r in monitor.rules()]


@router.get("/v1/dashboard/own", response_model=OwnViewOut, tags=["dashboard"],
            summary="The caller's own assets first, and what its recipients need from it",
            description="Per own asset with a watched temperature: its value, the rate of "
            "change over the last 10 minutes against its ramp limits, its band, and per "
            "upstream supply the time to its limit if that supply stopped now (pipe delay "
            "plus the cluster file's thermal model); while an active alert says a supply is "
            "lost, the model's predicted path and when it crosses the limit. For a "
            "supplier: each recipient asset's limits and the time its supply gives it, "
            "computed from the recipient's temperature but never showing it (the recipient "
            "finds these reads in its access log, door `margin`).",
            responses={401: {"description": "Missing or unknown token or session"}})
async def own_view(principal: Reader, dashboard: DashboardDep, monitor: Monitor,
                   index: IndexDep, pool: PoolDep, clock: ClockDep) -> OwnViewOut:
    now = clock.now()
    view = dashboard.own
    rules = _rules(monitor)
    mine = view.own_assets(principal.org, rules)
    recipients_of = [a for e in index.cluster.exchanges if e.supplier == principal.org
                     for a in e.recipient_assets]
    watched = {a: lim.series for a in {*mine, *recipients_of}
               if (lim := own_limits(index, a, rules)) is not None}
    rows = [r for r in await store.latest(pool, sorted(set(watched.values())))
            if r["ts"] is not None]
    latest = {r["key"]: Latest(ts=r["ts"], value=r["value"]) for r in rows}
    quality = {r["key"]: QUALITY_NAMES[r["quality"]] for r in rows}
    visible = index.visible_series(principal.org)
    exchanges = frozenset(e.id for e in index.exchanges_of(principal.org))
    statuses = await dashboard.states.statuses(
        Viewer(principal.org, visible, exchanges),
        {k: v for k, v in latest.items() if k in visible}, now)
    lost = await lost_supplies(pool, principal.org)
    assets = []
    for asset_id in mine:
        key = watched.get(asset_id)
        rate = None
        if key is not None:
            recent = await store.raw_readings(pool, key, now - timedelta(seconds=RATE_WINDOW_S),
                                              now + timedelta(seconds=1), 10_000)
            good = [r for r in recent if r["quality"] == 0]
            rate = slope_per_h([r["ts"] for r in good], [r["value"] for r in good])
        assets.append(view.asset(asset_id, rules, latest, quality, rate, statuses, lost, now))
    needs, used = view.needs(principal.org, rules, latest, statuses)
    others = [k for k in used if k not in visible]
    await access_log.log_access(pool, principal.org, [
        (index.series[k].owner, k) for _, k in
        _not_logged_lately(dashboard.logged, principal.org, index, others)
    ], "margin")
    return OwnViewOut(org=principal.org, generated_at=now, assets=assets, recipients=needs)
