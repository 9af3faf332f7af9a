"""POST /v1/ingest and /v1/ingest/runs."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from heatlink.wire import IngestResult, WireBatch, WireRunsBatch
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.api.problems import problem_response
from services.deps import Part
from services.ingest.decode import IngestError
from services.ingest.service import IngestService

# The app binds it at start (`services/runtimes.py`).
ingest_service = Part[IngestService]("ingest")
router = APIRouter(prefix="/v1", tags=["ingest"])

def _request_body(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": schema, "example": example}}}}


_EXAMPLE = WireBatch.model_json_schema()
_RUNS = WireRunsBatch.model_json_schema()
_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body cannot be read at all (not JSON, not gzip, no gateway or "
          "batch id); a bad reading is rejected on its own"},
    413: {"description": "Too many readings or too large a body; the limit is named"},
    415: {"description": "A Content-Encoding other than gzip"},
    401: {"description": "Missing or unknown token"},
    403: {"description": "The token may not ingest for this gateway"}}


@router.post(
    "/ingest",
    response_model=IngestResult,
    summary="Store a batch of readings",
    description=(
        "Each reading is checked on its own. Good readings are stored once per series and "
        "source timestamp; bad ones come back in `rejected` with their index and reason and "
        "are kept in quarantine. Resending a batch id returns the first answer and stores "
        "nothing twice. The body may be gzip-compressed (`Content-Encoding: gzip`)."),
    openapi_extra=_request_body(_EXAMPLE, {
        "gateway": "glomfjord-gw1", "batch_id": "gw1-000042", "readings": [
            {"series": "glomfjord/smelter/hx1/primary/supply_temp",
             "ts": "2026-01-15T06:00:00.000+00:00", "value": 31.2, "quality": "good"}]}),
    responses=_REFUSALS,
)
async def ingest(request: Request,
                 principal: Annotated[Principal, Depends(require_scope(Scope.INGEST))],
                 service: Annotated[IngestService, Depends(ingest_service)]) -> Response:
    # The body is bounded by the app's body limit, the same setting.
    return await _answer(service.ingest(principal, await request.body(),
                                        request.headers.get("content-encoding")))


@router.post(
    "/ingest/runs",
    response_model=IngestResult,
    summary="Store a batch of readings as runs (columns per series)",
    description=(
        "The batch of `POST /v1/ingest` with each series' readings as columns: what the "
        "gateway sends: half the work to write, a quarter to read. A reading's index counts "
        "through the runs in order; it is checked, stored, rejected and resent as there. A "
        "run whose columns cannot be followed (not lists, of different lengths) is refused "
        "with the body, naming the run."),
    openapi_extra=_request_body(_RUNS, {
        "gateway": "glomfjord-gw1", "batch_id": "gw1-000043", "runs": [
            {"series": "glomfjord/smelter/hx1/primary/supply_temp",
             "ts": ["2026-01-15T06:00:00.000+00:00", "2026-01-15T06:00:01.000+00:00"],
             "value": [31.2, 31.3]}]}),
    responses=_REFUSALS,
)
async def ingest_runs(request: Request,
                      principal: Annotated[Principal, Depends(require_scope(Scope.INGEST))],
                      service: Annotated[IngestService, Depends(ingest_service)]) -> Response:
    return await _answer(service.ingest_runs(principal, await request.body(),
                                             request.headers.get("content-encoding")))


async def _answer(ingesting: Awaitable[IngestResult]) -> Response:
    try:
        result = await ingesting
    except IngestError as exc:
        return problem_response(exc.status, exc.message)
    return Response(result.model_dump_json(), media_type="application/json")
