"""GET /v1/access-log: who in other companies read the caller's data, or tried to and was
refused, and through which door."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from heatlink.inputs import Moment
from services.access import log
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.deps import PoolDep

router = APIRouter(prefix="/v1", tags=["access"])
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]


class AccessLogEntry(BaseModel):
    at: datetime
    reader_org: str = Field(examples=["fjordsmolt"])
    series: str = Field(examples=["glomfjord/smelter/hx1/secondary/supply_temp"])
    door: str = Field(description="rest, export, stream, dashboard or ingest", examples=["rest"])
    outcome: str = Field(description="read, or denied (the reader got a 404 or a rejected "
                         "reading, as for a series that does not exist)", examples=["read"])
    reason: str | None = Field(None, description="Why it was denied",
                               examples=["not shared with the reader"])


@router.get("/access-log", response_model=list[AccessLogEntry],
            summary="Reads of the caller's series by other organisations, and refused "
                    "attempts, newest first")
async def access_log(
    principal: Reader, pool: PoolDep,
    since: Annotated[Moment | None, Query(description="Only reads at or after this")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AccessLogEntry]:
    rows = await log.reads_of(pool, principal.org, since, limit)
    return [AccessLogEntry(**dict(r)) for r in rows]
