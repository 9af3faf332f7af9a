"""The alert API: an organisation lists and handles its own alerts, and a supplier announces
maintenance windows. Another organisation's alert answers 404, like one that does not
exist."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import HTMLResponse

from alerts import history, link_page, maintenance, operations, store
from alerts.notify import DEFAULT_SHELVE_S
from alerts.operations import Done, NotFound, Result, Unchanged
from alerts.runtime import AlertsRuntime
from alerts.schemas import MaintenanceBody, ServiceBody, ShelveBody
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.api.openapi import link
from services.deps import IndexDep, Part

router = APIRouter(tags=["alerts"])
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
# Silencing an alarm or announcing a planned outage is privileged (ISA-18.2): acknowledging
# is the one handling a reading token may do.
Safety = Annotated[Principal, Depends(require_scope(Scope.SAFETY))]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert of the caller's organisation"}}
_HTML = {"text/html": {"schema": {"type": "string"}}}
LINK_ANSWERS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The link's signature is wrong or it expired", "content": _HTML},
    404: {"description": "No such alert", "content": _HTML}}


# The app binds it at start (`services/runtimes.py`).
alerts_runtime = Part[AlertsRuntime]("alerts")
Alerts = Annotated[AlertsRuntime, Depends(alerts_runtime)]


def _actor(principal: Principal) -> str:
    return f"{principal.org}:{principal.name}"


def _answer(result: Result) -> dict[str, Any]:
    match result:
        case Done(alert=alert):
            return {"changed": True, "alert": alert.public()}
        case Unchanged(alert=alert, reason=reason):
            return {"changed": False, "reason": reason, "alert": alert.public()}
        case NotFound():
            raise HTTPException(404, "no such alert of your organisation")


_FIRST = {"alert_id": "$response.body#/alerts/0/id"}


@router.get("/v1/alerts", responses={200: {"links": {
    "alert": link("/v1/alerts/{alert_id}", "get", **_FIRST),
    "ack": link("/v1/alerts/{alert_id}/ack", "post", **_FIRST),
    "shelve": link("/v1/alerts/{alert_id}/shelve", "post", **_FIRST),
    "unshelve": link("/v1/alerts/{alert_id}/unshelve", "post", **_FIRST)}}})
async def list_alerts(alerts: Alerts, principal: Reader, index: IndexDep,
                      state: Annotated[str, Query(pattern="^(open|all)$")] = "open",
                      limit: Annotated[int, Query(gt=0, le=1000)] = 200) -> dict[str, Any]:
    """Alerts of the caller's organisation, newest first; ``open`` leaves out normal ones.
    The cluster's facilitator, whose mandate is the whole cluster and whose graph shows
    every exchange, sees every organisation's alerts (each names its ``org``); acting on
    one stays its organisation's."""
    of = None if index.is_facilitator(principal.org) else principal.org
    async with alerts.service.pool.acquire() as conn:
        rows = await store.list_alerts(conn, of, active_only=state == "open", limit=limit)
    return {"org": principal.org, "alerts": [r.public() for r in rows]}


@router.get("/v1/alert-deliveries")
async def list_deliveries(alerts: Alerts, principal: Reader,
                          status: Annotated[str, Query(pattern="^(pending|delivered|failed)$")]
                          = "failed",
                          limit: Annotated[int, Query(gt=0, le=1000)] = 200) -> dict[str, Any]:
    """Deliveries to the caller's organisation by status: failed ones are listed here so that
    a notification that never arrived is seen."""
    async with alerts.service.pool.acquire() as conn:
        rows = await history.deliveries_to(conn, principal.org, status, limit)
    return {"org": principal.org, "deliveries": [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(r).items()}
        for r in rows]}


@router.get("/v1/alerts/{alert_id}", responses=NOT_FOUND)
async def get_alert(alerts: Alerts, principal: Reader, alert_id: AlertId) -> dict[str, Any]:
    """One alert with its transitions and its deliveries with every attempt."""
    async with alerts.service.pool.acquire() as conn:
        alert = await store.get(conn, alert_id)
        if alert is None or alert.org != principal.org:
            raise HTTPException(404, "no such alert of your organisation")
        deliveries = await history.deliveries_of(conn, alert_id)
        transitions = await store.transitions(conn, alert_id)
    return {"alert": alert.public(), "transitions": transitions,
            "deliveries": [_delivery(dict(d)) for d in deliveries]}


def _delivery(d: dict[str, Any]) -> dict[str, Any]:
    import json

    d["history"] = json.loads(d["history"]) if isinstance(d["history"], str) else d["history"]
    for key in ("next_attempt_at", "delivered_at"):
        d[key] = d[key].isoformat() if d[key] else None
    return d


@router.post("/v1/alerts/{alert_id}/ack", responses=NOT_FOUND)
async def acknowledge(alerts: Alerts, principal: Reader, alert_id: AlertId) -> dict[str, Any]:
    return _answer(await operations.acknowledge(alerts.service, alert_id,
                                                principal.org, _actor(principal)))


@router.post("/v1/alerts/{alert_id}/shelve", responses=NOT_FOUND)
async def shelve(alerts: Alerts, principal: Safety, alert_id: AlertId,
                 body: ShelveBody) -> dict[str, Any]:
    return _answer(await operations.shelve(alerts.service, alert_id, principal.org,
                                           _actor(principal), body.duration_s, body.reason))


@router.post("/v1/alerts/{alert_id}/unshelve", responses=NOT_FOUND)
async def unshelve(alerts: Alerts, principal: Safety, alert_id: AlertId) -> dict[str, Any]:
    return _answer(await operations.unshelve(alerts.service, alert_id,
                                             principal.org, _actor(principal)))


@router.post("/v1/alerts/{alert_id}/out-of-service", responses=NOT_FOUND)
async def out_of_service(alerts: Alerts, principal: Safety, alert_id: AlertId,
                         body: ServiceBody) -> dict[str, Any]:
    return _answer(await operations.set_in_service(alerts.service, alert_id,
                                                   principal.org, _actor(principal), False,
                                                   body.reason))


@router.post("/v1/alerts/{alert_id}/return-to-service", responses=NOT_FOUND)
async def return_to_service(alerts: Alerts, principal: Safety, alert_id: AlertId,
                            body: ServiceBody) -> dict[str, Any]:
    return _answer(await operations.set_in_service(alerts.service, alert_id,
                                                   principal.org, _actor(principal), True,
                                                   body.reason))


Expires = Annotated[int, Query(ge=0, le=2**40)]


@router.get("/v1/alerts/{alert_id}/link", response_class=HTMLResponse, responses=LINK_ANSWERS)
async def one_click(alerts: Alerts, alert_id: AlertId, action: str, org: str,
                    expires: Expires, sig: str) -> HTMLResponse:
    """The signed link in an e-mail: shows what it would do and a button. Changes nothing,
    since mail scanners open links."""
    service = alerts.service
    lang = _language(alerts, org)
    why = service.signer.check(alert_id, action, org, expires, sig, service.clock.now())
    if why is not None:
        return link_page.refused(why, lang)
    async with service.pool.acquire() as conn:
        alert = await store.get(conn, alert_id)
    if alert is None or alert.org != org:
        return link_page.not_found(lang)
    return link_page.confirm(alert, action, lang)


@router.post("/v1/alerts/{alert_id}/link", response_class=HTMLResponse,
             responses=LINK_ANSWERS)
async def one_click_post(alerts: Alerts, alert_id: AlertId, action: str, org: str,
                         expires: Expires, sig: str) -> HTMLResponse:
    """The button of the link's page: acknowledges or shelves without a token."""
    service = alerts.service
    lang = _language(alerts, org)
    why = service.signer.check(alert_id, action, org, expires, sig, service.clock.now())
    if why is not None:
        return link_page.refused(why, lang)
    actor = f"{org}:e-mail link"
    if action == "ack":
        result = await operations.acknowledge(service, alert_id, org, actor)
    else:
        result = await operations.shelve(service, alert_id, org, actor, DEFAULT_SHELVE_S,
                                         "from the e-mail link")
    match result:
        case Done(alert=alert) | Unchanged(alert=alert):
            return link_page.done(alert, action, lang)
        case NotFound():
            return link_page.not_found(lang)


def _language(alerts: AlertsRuntime, org: str) -> str:
    """The link's organisation's language (its e-mail's); English for an unknown one."""
    found = alerts.service.index.organisations.get(org)
    return found.language if found is not None else "en"


@router.post("/v1/maintenance", status_code=201, responses={
    403: {"description": "Only the exchange's supplier announces maintenance"},
    404: {"description": "No such exchange of the caller's"},
    422: {"description": "An invalid field, or ends_at not after starts_at"}})
async def announce(alerts: Alerts, principal: Safety,
                   body: MaintenanceBody) -> dict[str, Any]:
    """A supplier announces a planned outage of an exchange."""
    result = await maintenance.announce(
        alerts.service, exchange_id=body.exchange, org=principal.org,
        actor=_actor(principal), starts_at=body.starts_at, ends_at=body.ends_at,
        reason=body.reason)
    match result:
        case maintenance.Announced(window_id=wid, short_notice=short, notice_h=notice,
                                   told=told):
            return {"id": wid, "short_notice": short, "notice_h": notice, "told": told}
        case maintenance.Refused(status=status, reason=reason):
            raise HTTPException(status, reason)


@router.get("/v1/maintenance")
async def windows(alerts: Alerts, principal: Reader) -> dict[str, Any]:
    exchanges = [e.id for e in alerts.service.index.exchanges_of(principal.org)]
    async with alerts.service.pool.acquire() as conn:
        return {"windows": await maintenance.list_windows(conn, exchanges)}
