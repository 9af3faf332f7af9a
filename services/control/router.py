"""The control API: ramped setpoint changes, their audit log, protective-action requests.

Only the point's owner, with a token holding the ``control`` scope, may change a setpoint;
any other attempt is answered 403 and written to the audit log, which the owner and the
other company of every exchange the point belongs to can read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from heatlink.cluster.model import WritablePoint
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.api.openapi import link
from services.control import store
from services.control.plan import PlanError, StartError
from services.control.runtime import Actor, ControlRuntime, ControlUnavailable
from services.control.schemas import (
    DB_ID,
    AnswerIn,
    AuditOut,
    PointOut,
    ProtectiveRequestIn,
    RampOut,
    RampRequest,
)
from services.deps import Part

router = APIRouter(prefix="/v1/control", tags=["control"])
RampId = Annotated[int, Path(**DB_ID)]
RequestId = Annotated[int, Path(**DB_ID)]
# Every control endpoint needs at least the read scope (a gateway's token reads none of
# them); changing a setpoint or answering a request needs control on top.
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
_Answers = dict[int | str, dict[str, Any]]
NO_RAMP: _Answers = {404: {"description": "No such ramp visible to the caller"}}
OPERATE: _Answers = {**NO_RAMP, 409: {"description": "The ramp is not in a state that allows "
                                                     "this"}}
NO_REQUEST: _Answers = {
    404: {"description": "No such protective request of the caller's"},
    409: {"description": "The request is already answered"}}


# The app binds it at start (`services/runtimes.py`); unbound, a route answers 503.
get_control = Part[ControlRuntime]("control")


Control = Annotated[ControlRuntime, Depends(get_control)]


def _actor(p: Principal) -> Actor:
    return Actor(p.org, p.name)


def _scope_org(control: ControlRuntime, p: Principal) -> str | None:
    """None: the facilitator reads the whole cluster's log."""
    return None if control.index.is_facilitator(p.org) else p.org


def _visible_point(control: ControlRuntime, p: Principal, key: str) -> WritablePoint:
    point = control.points.get(key)
    if point is None or (_scope_org(control, p) is not None
                         and p.org not in control.orgs_of(point)):
        raise HTTPException(404, f"no writable point {key!r}; GET /v1/control/points "
                            "lists those you can see")
    return point


def _may_change(p: Principal, point: WritablePoint) -> str | None:
    """Why ``p`` may not change ``point``, or None."""
    if p.org != point.owner:
        return (f"{point.key} belongs to {point.owner}; only its owner may change it")
    if not p.has(Scope.CONTROL):
        who = "your role" if p.user_id is not None else "this token"
        return f"{who} lacks the 'control' scope; ask your organisation's admin for one"
    return None


async def _authorised(control: ControlRuntime, p: Principal, point: WritablePoint,
                      what: str) -> None:
    why = _may_change(p, point)
    if why is not None:
        await control.refuse(_actor(p), point.key, why, {"action": what})
        raise HTTPException(status.HTTP_403_FORBIDDEN, why)


@router.get("/points", response_model=list[PointOut], summary="Writable points you can see")
async def points(control: Control, p: Reader) -> list[PointOut]:
    out = []
    for point in control.points.values():
        if _scope_org(control, p) is None or p.org in control.orgs_of(point):
            rise, fall = control.limits(point)
            out.append(PointOut(key=point.key, asset=point.asset, owner=point.owner,
                                gateway=point.gateway, unit=point.unit, range=point.range,
                                max_rise_per_h=rise, max_fall_per_h=fall,
                                may_request=_may_change(p, point) is None))
    return out


_RAMP = {"ramp_id": "$response.body#/id"}
_REQUEST = {"request_id": "$response.body#/id"}


@router.post("/ramps", status_code=201, response_model=RampOut,
             summary="Request a ramped setpoint change",
             responses={201: {"links": {
                            "ramp": link("/v1/control/ramps/{ramp_id}", "get", **_RAMP),
                            "cancel": link("/v1/control/ramps/{ramp_id}/cancel", "post", **_RAMP),
                            "resume": link("/v1/control/ramps/{ramp_id}/resume", "post",
                                           **_RAMP)}},
                        404: {"description": "No such writable point visible to the caller"},
                        409: {"description": "The plant reports no value to start from: none "
                                             "fresh enough, or one outside the point's range"},
                        422: {"description": "An invalid field, or a target the point's range "
                                             "or limits do not allow"}})
async def request_ramp(body: RampRequest, control: Control, p: Reader) -> RampOut:
    point = _visible_point(control, p, body.point)
    await _authorised(control, p, point, f"ramp to {body.target}")
    try:
        ramp_id = await control.request(_actor(p), point, body.target)
    except StartError as exc:
        await control.refuse(_actor(p), point.key, str(exc), {"target": body.target})
        raise HTTPException(409, str(exc)) from None
    except PlanError as exc:
        await control.refuse(_actor(p), point.key, str(exc), {"target": body.target})
        raise HTTPException(422, str(exc)) from None
    except ControlUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    return await _ramp(control, p, ramp_id)


async def _ramp(control: ControlRuntime, p: Principal, ramp_id: int) -> RampOut:
    async with control.pool.acquire() as conn:
        row = await store.get_ramp(conn, ramp_id, _scope_org(control, p))
    if row is None:
        raise HTTPException(404, f"no ramp {ramp_id}")
    return RampOut.model_validate(row)


@router.get("/ramps", response_model=list[RampOut], summary="Ramps you can see, newest first")
async def ramps(control: Control, p: Reader,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[RampOut]:
    async with control.pool.acquire() as conn:
        rows = await store.list_ramps(conn, _scope_org(control, p), limit)
    return [RampOut.model_validate(r) for r in rows]


@router.get("/ramps/{ramp_id}", response_model=RampOut,
            summary="A ramp with every command it sent", responses=NO_RAMP)
async def ramp(ramp_id: RampId, control: Control, p: Reader) -> RampOut:
    return await _ramp(control, p, ramp_id)


async def _operate(control: ControlRuntime, p: Principal, ramp_id: int, what: str) -> RampOut:
    current = await _ramp(control, p, ramp_id)
    point = _visible_point(control, p, current.point)
    await _authorised(control, p, point, f"{what} ramp {ramp_id}")
    done = await (control.cancel(_actor(p), ramp_id) if what == "cancel"
                  else control.resume(_actor(p), ramp_id))
    if not done:
        raise HTTPException(409, f"ramp {ramp_id} is {current.status}"
                            + (" with nothing for the operator to clear" if what == "resume"
                               else ""))
    return await _ramp(control, p, ramp_id)


@router.post("/ramps/{ramp_id}/cancel", response_model=RampOut, summary="Cancel a ramp",
             responses=OPERATE)
async def cancel(ramp_id: RampId, control: Control, p: Reader) -> RampOut:
    return await _operate(control, p, ramp_id, "cancel")


@router.post("/ramps/{ramp_id}/resume", response_model=RampOut,
             summary="Resume a ramp held for a readback mismatch or an unconfirmed step",
             responses=OPERATE)
async def resume(ramp_id: RampId, control: Control, p: Reader) -> RampOut:
    return await _operate(control, p, ramp_id, "resume")


@router.get("/audit", response_model=list[AuditOut],
            summary="Requests, steps, readbacks, refusals and cancellations, newest first")
async def audit(control: Control, p: Reader,
                ramp_id: Annotated[int | None, Query(**DB_ID)] = None,
                point: str | None = None,
                limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[AuditOut]:
    if point is not None and point not in control.points:
        return []
    async with control.pool.acquire() as conn:
        rows = await store.audit_log(conn, _scope_org(control, p), ramp_id=ramp_id,
                                     point=point, limit=limit)
    return [AuditOut.model_validate(r) for r in rows]


# ---- protective actions: the recipient asks, the supplier answers


@router.post("/protective-requests", status_code=201,
             summary="Ask the supplier of an exchange for a protective action",
             responses={201: {"links": {
                            "accept": link("/v1/control/protective-requests/{request_id}/accept",
                                           "post", **_REQUEST),
                            "decline": link("/v1/control/protective-requests/{request_id}/"
                                            "decline", "post", **_REQUEST)}},
                        404: {"description": "No such exchange of the caller's"}})
async def protective_request(body: ProtectiveRequestIn, control: Control,
                             p: Reader) -> dict[str, Any]:
    exchange = next((e for e in control.index.cluster.exchanges if e.id == body.exchange), None)
    if exchange is None or p.org not in (exchange.supplier, exchange.recipient):
        raise HTTPException(404, f"no exchange {body.exchange!r} of yours")
    if p.org != exchange.recipient:
        raise HTTPException(403, f"only the recipient ({exchange.recipient}) asks for a "
                            "protective action on this exchange")
    now = control.clock.now()
    async with control.pool.acquire() as conn, conn.transaction():
        row = await store.insert_request(conn, exchange=exchange.id, from_org=exchange.recipient,
                                         to_org=exchange.supplier, action=body.action,
                                         reason=body.reason, requested_by=str(_actor(p)),
                                         at=now)
        await store.audit(conn, at=now, kind="protective_requested", actor=str(_actor(p)),
                          orgs=[exchange.supplier, exchange.recipient], request_id=row["id"],
                          detail={"exchange": exchange.id, "action": body.action,
                                  "reason": body.reason})
    return row


@router.get("/protective-requests", summary="Requests you made or were asked")
async def protective_requests(control: Control, p: Reader) -> list[dict[str, Any]]:
    async with control.pool.acquire() as conn:
        return await store.list_requests(conn, _scope_org(control, p))


async def _answer(control: ControlRuntime, p: Principal, request_id: int, answer: str,
                  note: str) -> dict[str, Any]:
    async with control.pool.acquire() as conn, conn.transaction():
        row = await store.get_request(conn, request_id)
        if row is None or p.org not in (row["from_org"], row["to_org"]):
            raise HTTPException(404, f"no protective request {request_id}")
        if p.org != row["to_org"] or not p.has(Scope.CONTROL):
            raise HTTPException(403, f"only the supplier ({row['to_org']}) with a 'control' "
                                "token answers this request")
        now = control.clock.now()
        answered = await store.answer_request(conn, request_id, status=answer,
                                              by=str(_actor(p)), note=note, at=now)
        if answered is None:
            raise HTTPException(409, f"request {request_id} is already {row['status']}")
        await store.audit(conn, at=now, kind=f"protective_{answer}", actor=str(_actor(p)),
                          orgs=[row["from_org"], row["to_org"]], request_id=request_id,
                          detail={"exchange": row["exchange"], "action": row["action"],
                                  "note": note})
    return answered


@router.post("/protective-requests/{request_id}/accept", summary="Supplier accepts",
             responses=NO_REQUEST)
async def accept(request_id: RequestId, body: AnswerIn, control: Control,
                 p: Reader) -> dict[str, Any]:
    return await _answer(control, p, request_id, "accepted", body.note)


@router.post("/protective-requests/{request_id}/decline", summary="Supplier declines",
             responses=NO_REQUEST)
async def decline(request_id: RequestId, body: AnswerIn, control: Control,
                  p: Reader) -> dict[str, Any]:
    return await _answer(control, p, request_id, "declined", body.note)
