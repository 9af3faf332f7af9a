"""The accounting API: hourly figures, monthly statements (JSON, CSV, PDF), closing and
revisions, comments on disputed hours, substitution rules, and the audit of those writes.

Reads need the ``read`` scope and are written to the access log; writes need ``settle``.
An exchange the caller may not see is answered 404, as one that does not exist.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from heatlink.catalogue import negotiate
from heatlink.cluster.model import Exchange
from heatlink.inputs import Moment
from services.access.deps import require_scope
from services.access.log import log_access
from services.access.principal import Principal, Scope
from services.accounting import actions, closing, rules
from services.accounting.access import visible_exchange
from services.accounting.months import Month, floor_hour, month_of, parse_month
from services.accounting.runtime import AccountingRuntime
from services.accounting.schemas import (
    AuditOut,
    CommentIn,
    EnergyOut,
    MonthToDateOut,
    OutcomeOut,
    RevisionIn,
    RevisionOut,
    RuleIn,
)
from services.accounting.service import AccountingService
from services.accounting.store import audit_log
from services.deps import Part

router = APIRouter(prefix="/v1/exchanges", tags=["accounting"], responses={
    404: {"description": "No such exchange with accounting visible to the caller, or no "
                         "such month, revision or rule version"}})
# What a write can be refused with besides the common answers (a state that does not allow
# it, or a party that may not do it).
WRITE_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The month, revision or rule is not in a state that allows this"}}
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
Settler = Annotated[Principal, Depends(require_scope(Scope.SETTLE))]
ExchangeId = Annotated[str, Path(max_length=100, description="Exchange id of the cluster file")]
MonthText = Annotated[str, Path(description="YYYY-MM in the cluster's time zone",
                                examples=["2026-01"])]
MAX_RANGE = timedelta(days=366)


# The app binds it at start (`services/runtimes.py`).
accounting_runtime = Part[AccountingRuntime]("accounting")


def _service(runtime: Annotated[AccountingRuntime, Depends(accounting_runtime)]
             ) -> AccountingService:
    return runtime.service


Service = Annotated[AccountingService, Depends(_service)]


def _exchange(svc: AccountingService, principal: Principal, exchange_id: str) -> Exchange:
    exchange = visible_exchange(svc.index, exchange_id, principal.org)
    if exchange is None:
        raise HTTPException(404, f"no exchange {exchange_id!r} with accounting visible to "
                            f"{principal.org}")
    return exchange


def _month(text: str) -> Month:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


async def _log(svc: AccountingService, principal: Principal, exchange: Exchange,
               what: str) -> None:
    await log_access(svc.pool, principal.org,
                     [(exchange.supplier, what), (exchange.recipient, what)], "accounting")


def _answer(outcome: actions.Outcome) -> OutcomeOut:
    match outcome:
        case actions.Done(detail):
            return OutcomeOut(detail=detail)
        case actions.Refused(status, reason):
            raise HTTPException(status, reason)
    raise AssertionError(outcome)


@router.get("/{exchange_id}/energy", response_model=EnergyOut,
            summary="Hourly settled figures of an exchange over a range")
async def energy(svc: Service, principal: Reader, exchange_id: ExchangeId,
                 start: Annotated[Moment | None, Query(description="Inclusive, whole "
                                                       "hour; default end − 24 h")] = None,
                 end: Annotated[Moment | None, Query(description="Exclusive; default the "
                                                     "current hour")] = None,
                 step: Annotated[str, Query(description="Only 1h")] = "1h") -> EnergyOut:
    exchange = _exchange(svc, principal, exchange_id)
    if step.replace(" ", "") not in ("1h", "3600", "3600s", "PT1H"):
        raise HTTPException(422, f"step {step!r} is not supported; use step=1h")
    end = end or floor_hour(svc.clock.now())
    start = start or end - timedelta(hours=24)
    start, end = floor_hour(start), floor_hour(end + timedelta(hours=1) - timedelta(
        microseconds=1))
    if start >= end:
        raise HTTPException(422, "start must be before end")
    if end - start > MAX_RANGE:
        raise HTTPException(422, "the range exceeds 366 days; ask for less at a time")
    hours = await svc.energy(exchange, start, end)
    await _log(svc, principal, exchange, f"energy:{exchange.id}")
    return EnergyOut(exchange=exchange.id, start=start, end=end, hours=hours)


@router.get("/{exchange_id}/statements/{month}",
            summary="Monthly statement: JSON, or CSV / PDF by Accept",
            responses={200: {"content": {"application/json": {}, "text/csv": {},
                                         "application/pdf": {}}}})
async def statement(request: Request, svc: Service, principal: Reader,
                    exchange_id: ExchangeId, month: MonthText,
                    revision: Annotated[int | None, Query(ge=1, le=10_000)] = None,
                    draft: Annotated[bool, Query(description="The revision being prepared "
                                                 "rather than the closed one")] = False,
                    format: Annotated[str | None, Query(pattern="^(json|csv|pdf)$",
                                                        description="Overrides Accept")]
                    = None) -> Response:
    exchange = _exchange(svc, principal, exchange_id)
    wanted = _month(month)
    document = await svc.statement(exchange, wanted, revision, draft)
    if document is None:
        raise HTTPException(404, f"{wanted} has no revision {revision}" if revision
                            else f"{wanted} has no revision being prepared")
    await _log(svc, principal, exchange, f"statement:{exchange.id}/{wanted}")
    kind = format or _kind(request.headers.get("accept", ""))
    name = f"{exchange.id}-{wanted}-r{document.revision}"
    # The content hash is the JSON document's, whatever the language of its CSV or PDF;
    # those are made from it and the language alone, so each language's bytes are fixed.
    lang = negotiate(request.headers.get("accept-language"))
    tag = "" if lang == "en" or kind == "json" else f".{lang}"
    headers = {"ETag": f'"{document.content_sha256}{tag}"',
               "X-Content-SHA256": document.content_sha256,
               "X-Statement-Status": document.status,
               "X-Statement-Revision": str(document.revision),
               "Vary": "Accept, Accept-Language"}
    if kind == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        headers["Content-Language"] = lang
        return Response(document.csv(lang), media_type="text/csv; charset=utf-8",
                        headers=headers)
    if kind == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        headers["Content-Language"] = lang
        return Response(document.pdf(lang), media_type="application/pdf", headers=headers)
    return Response(document.body, media_type="application/json", headers=headers)


def _kind(accept: str) -> str:
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media, kind in (("application/pdf", "pdf"), ("text/csv", "csv")):
        if media in types:
            return kind
    return "json"


@router.get("/{exchange_id}/statements/{month}/revisions", response_model=list[RevisionOut],
            summary="Closed revisions of a month and the one being prepared")
async def revisions(svc: Service, principal: Reader, exchange_id: ExchangeId,
                    month: MonthText) -> list[RevisionOut]:
    exchange = _exchange(svc, principal, exchange_id)
    wanted = _month(month)
    await svc.close_if_due(exchange, wanted)
    state = await closing.state(svc.pool, exchange.id, wanted)
    out = [RevisionOut(revision=r["revision"], status="closed",
                       content_sha256=r["content_sha256"], closed_at=r["closed_at"],
                       closed_by=list(r["closed_by"]), reason=r["reason"])
           for r in state.closed]
    if state.open_revision is not None:
        out.append(RevisionOut(revision=state.open_revision, status="open",
                               reason=state.reason,
                               close_requested_by=list(state.requests)))
    await _log(svc, principal, exchange, f"revisions:{exchange.id}/{wanted}")
    return out


@router.get("/{exchange_id}/month-to-date", response_model=MonthToDateOut,
            summary="Totals of the current month against the contract (dashboard card)")
async def month_to_date(svc: Service, principal: Reader,
                        exchange_id: ExchangeId) -> MonthToDateOut:
    exchange = _exchange(svc, principal, exchange_id)
    month = month_of(svc.clock.now(), svc.tz)
    document = await svc.statement(exchange, month)
    if document is None:
        raise HTTPException(404, f"no statement for {month}")
    body = json.loads(document.body)
    await _log(svc, principal, exchange, f"month-to-date:{exchange.id}")
    return MonthToDateOut(exchange=exchange.id, month=str(month),
                          hours=body["period"]["hours_reported"], resources=body["resources"],
                          availability_share=body["availability"]["share"])


@router.post("/{exchange_id}/statements/{month}/close", response_model=OutcomeOut,
             responses=WRITE_ANSWERS,
             summary="Ask to close a month; it closes when both parties have asked")
async def close(svc: Service, principal: Settler, exchange_id: ExchangeId,
                month: MonthText) -> OutcomeOut:
    exchange = _exchange(svc, principal, exchange_id)
    return _answer(await actions.close_month(svc, exchange, _month(month), principal.org,
                                             principal.name))


@router.post("/{exchange_id}/statements/{month}/revisions", response_model=OutcomeOut,
             responses=WRITE_ANSWERS,
             status_code=201, summary="Open a new revision of a closed month, with a reason")
async def open_revision(svc: Service, principal: Settler, exchange_id: ExchangeId,
                        month: MonthText, body: RevisionIn) -> OutcomeOut:
    exchange = _exchange(svc, principal, exchange_id)
    return _answer(await actions.open_revision(svc, exchange, _month(month), principal.org,
                                               principal.name, body.reason))


@router.post("/{exchange_id}/comments", response_model=OutcomeOut, status_code=201,
             responses=WRITE_ANSWERS,
             summary="Comment on a disputed hour; both parties see it")
async def add_comment(svc: Service, principal: Settler, exchange_id: ExchangeId,
                      body: CommentIn) -> OutcomeOut:
    exchange = _exchange(svc, principal, exchange_id)
    return _answer(await actions.comment(svc, exchange, body.hour,
                                         body.resource, principal.org, principal.name,
                                         body.text))


@router.get("/{exchange_id}/substitution-rules", summary="Every version of the rule")
async def list_rules(svc: Service, principal: Reader,
                     exchange_id: ExchangeId) -> list[dict[str, object]]:
    exchange = _exchange(svc, principal, exchange_id)
    return [v.public() for v in await rules.versions(svc.pool, exchange.id)]


@router.post("/{exchange_id}/substitution-rules", response_model=OutcomeOut, status_code=201,
             responses=WRITE_ANSWERS,
             summary="Propose a new version; it applies once the other party agrees")
async def propose_rule(svc: Service, principal: Settler, exchange_id: ExchangeId,
                       body: RuleIn) -> OutcomeOut:
    exchange = _exchange(svc, principal, exchange_id)
    return _answer(await actions.propose_rule(svc, exchange, body.rule, body.reason,
                                              principal.org, principal.name))


@router.post("/{exchange_id}/substitution-rules/{version}/agree", response_model=OutcomeOut,
             responses=WRITE_ANSWERS,
             summary="Agree to the other party's proposed version")
async def agree_rule(svc: Service, principal: Settler, exchange_id: ExchangeId,
                     version: Annotated[int, Path(ge=1, le=1_000_000)]) -> OutcomeOut:
    exchange = _exchange(svc, principal, exchange_id)
    return _answer(await actions.agree_rule(svc, exchange, version, principal.org,
                                            principal.name))


@router.get("/{exchange_id}/accounting-audit", response_model=list[AuditOut],
            summary="Who closed, commented, proposed or agreed what, and when")
async def accounting_audit(svc: Service, principal: Reader, exchange_id: ExchangeId,
                           limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
                           ) -> list[AuditOut]:
    exchange = _exchange(svc, principal, exchange_id)
    return [AuditOut(**row) for row in await audit_log(svc.pool, exchange.id, limit)]

