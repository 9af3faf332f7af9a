"""GET /v1/stream (server-sent events) and POST /v1/stream/ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.access import log as access_log
from services.access.deps import (
    current_principal,
    principal_for,
    request_credential,
    require_scope,
)
from services.access.principal import Principal, Scope
from services.deps import IndexDep, Part, PoolDep, StorageDep
from services.live.stream import Audience, events_for
from services.live.tickets import TicketBook
from services.live.wiring import Live

router = APIRouter(prefix="/v1", tags=["live"])
# The app binds it at start (`services/runtimes.py`).
live_part = Part[Live]("live hub")
LiveDep = Annotated[Live, Depends(live_part)]

_HOW = ("Send 'Authorization: Bearer <token>', or, from a browser's EventSource, "
        "?ticket= from POST /v1/stream/ticket.")

_STREAM_EXAMPLE = (
    "retry: 3000\n"
    "id: 5f2c91aa:1200\nevent: hello\ndata: {\"last_event_id\":\"5f2c91aa:1200\",\"series\":6}\n\n"
    "id: 5f2c91aa:1202\nevent: values\n"
    "data: {\"values\":[{\"series\":\"glomfjord/smelter/hx1/secondary/supply_temp\","
    "\"ts\":\"2026-01-15T06:00:00+00:00\",\"value\":18.4,\"quality\":\"good\"}]}\n\n"
    ": keep-alive\nid: 5f2c91aa:1202\n\n")


# One server-sent event as a reader parses it (OpenAPI 3.2's itemSchema, which fuzzers and
# generators of 3.1 tools read too); `data` is JSON whose shape depends on `event`.
_EVENT = {"type": "object", "required": ["data"], "properties": {
    "event": {"type": "string", "examples": ["hello", "values", "gap", "end", "alert"]},
    "data": {"type": "string", "description": "JSON"},
    "id": {"type": "string", "examples": ["5f2c91aa:1202"]},
    "retry": {"type": "integer", "description": "Milliseconds before a reconnect"}}}


class TicketOut(BaseModel):
    ticket: str = Field(examples=["st_3q2-4r8aYv0HkqJ6b7mKpQxW1sZ9"])
    expires_at: datetime = Field(examples=["2026-01-15T06:02:00Z"])
    stream_url: str = Field(examples=["/v1/stream?ticket=st_3q2-4r8aYv0HkqJ6b7mKpQxW1sZ9"])


@router.post("/stream/ticket", response_model=TicketOut,
             summary="A short-lived ticket to open the stream from a browser",
             description="EventSource cannot send an Authorization header; open "
             "`/v1/stream?ticket=…` instead. The ticket opens one stream within 120 s and "
             "is bound to the caller's organisation; ask for a new one to reconnect (carry "
             "`last_event_id=` to resume). Revoking the token ends streams opened with its "
             "tickets.",
             responses={200: {"content": {"application/json": {"example": {
                 "ticket": "st_3q2-4r8aYv0HkqJ6b7mKpQxW1sZ9",
                 "expires_at": "2026-01-15T06:02:00Z",
                 "stream_url": "/v1/stream?ticket=st_3q2-4r8aYv0HkqJ6b7mKpQxW1sZ9"}}}},
                 401: {"description": "Missing or unknown token"}})
async def issue_ticket(request: Request,
                       principal: Annotated[Principal, Depends(require_scope(Scope.READ))],
                       live: LiveDep) -> TicketOut:
    ticket, expires_at = await live.tickets.issue(request_credential(request), principal.org)
    return TicketOut(ticket=ticket, expires_at=expires_at,
                     stream_url=f"/v1/stream?ticket={ticket}")


async def _stream_caller(request: Request, tickets: TicketBook, ticket: str | None
                         ) -> tuple[Principal, str]:
    if ticket is not None:
        redeemed = await tickets.redeem(ticket)
        if redeemed is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                f"the ticket is unknown, used or expired (each opens one "
                                f"stream). {_HOW}", headers={"WWW-Authenticate": "Bearer"})
        token = redeemed.token
        found = await principal_for(request, token)
        if found is None or found.org != redeemed.org:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                f"the token behind this ticket is revoked or expired. {_HOW}",
                                headers={"WWW-Authenticate": "Bearer"})
        principal: Principal = found
    else:
        principal = await current_principal(request)
        token = request_credential(request)
    if not principal.has(Scope.READ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token lacks the 'read' scope; "
                            "ask your organisation's admin for one that has it")
    return principal, token


@router.get(
    "/stream",
    summary="Live values (and later alert events) as server-sent events",
    description=(
        "A `text/event-stream` that runs until the client disconnects. Messages: `hello` "
        "(first), `values` (one or more readings, in commit order), `gap` (events were "
        "missed: reload `GET /v1/latest`), `end` (the stream closes, with a reason); more "
        "types, such as `alert`, are added as they are built, so ignore types you do not "
        "know. Every message has an `id`; reconnect with the `Last-Event-ID` header (or "
        "`?last_event_id=`) to resume without gaps from the service's ring of recent "
        "events, on any replica. Only series the caller may read are sent; `series=` "
        "narrows further. "
        "Authenticate with the bearer header or, from a browser, `?ticket=`."),
    response_class=StreamingResponse,
    responses={
        200: {"description": "The event stream",
              "content": {"text/event-stream": {"itemSchema": _EVENT,
                                                "example": _STREAM_EXAMPLE}}},
        401: {"description": "Missing or unknown token or ticket"},
        403: {"description": "The token lacks the read scope"},
        404: {"description": "A requested series does not exist or is not visible"}},
)
async def stream(
    request: Request, live: LiveDep, index: IndexDep, pool: PoolDep, storage: StorageDep,
    series: Annotated[list[str] | None, Query(
        description="Only these series (repeat the parameter); default all visible",
        examples=["glomfjord/smelter/hx1/secondary/supply_temp"])] = None,
    ticket: Annotated[str | None, Query(description="From POST /v1/stream/ticket, for "
                                        "clients that cannot send headers")] = None,
    last_event_id: Annotated[str | None, Query(description="Resume after this id (same "
                                               "as the Last-Event-ID header)")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID",
                                                       include_in_schema=False)] = None,
) -> StreamingResponse:
    principal, token = await _stream_caller(request, live.tickets, ticket)
    visible = index.visible_series(principal.org)
    chosen = visible
    if series:
        hidden = sorted(set(series) - visible)
        if hidden:
            await access_log.log_denied(pool, principal.org,
                                        [(index.series[k].owner, k) for k in hidden
                                         if k in index.series], "stream")
            raise HTTPException(404, f"no series {hidden[0]!r} visible to {principal.org}; "
                                "GET /v1/series lists the ones you can read")
        chosen = frozenset(series)
    # One access-log row per cross-company series a subscriber may receive, per connection.
    await access_log.log_access(pool, principal.org,
                                [(index.series[k].owner, k) for k in sorted(chosen)], "stream")

    async def still_allowed() -> bool:
        try:
            return await principal_for(request, token) is not None
        except Exception as exc:
            # With the database away no token can be revoked either: stream on, and check
            # again at the next keep-alive.
            if storage.failed(exc, "GET /v1/stream (token check)"):
                return True
            raise

    audience = Audience(principal.org, chosen)
    return StreamingResponse(
        events_for(live.hub, audience, last_event_id_header or last_event_id, still_allowed,
                   live.keepalive_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
