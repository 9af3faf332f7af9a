"""GET /healthz, /readyz, /metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.deps import FeaturesDep, MetricsDep, PoolDep, StorageDep
from services.storage.health import RETRY_AFTER_S, unavailable_reason
from services.storage.migrate import pending_migrations

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and its schema is current",
            responses={503: {"description": "Not ready: the database is unreachable or "
                                            "migrations are pending",
                             "content": {"application/json": {"schema": {"type": "object"}}}}})
async def readyz(storage: StorageDep, pool: PoolDep, features: FeaturesDep) -> JSONResponse:
    if not storage.up:
        # Known down: answer from the probe's knowledge rather than add a connection attempt
        # per waiting client to a database that is coming back.
        return _unavailable(storage.reason)
    try:
        async with pool.acquire(timeout=2) as conn:
            pending = await pending_migrations(conn)
    except Exception as exc:
        if not storage.failed(exc, "GET /readyz"):
            raise
        return _unavailable(unavailable_reason(exc))
    if pending:
        names = [f"{m.version:04d}_{m.name}" for m in pending]
        return JSONResponse({"status": "unavailable", "pending_migrations": names}, 503)
    return JSONResponse({"status": "ready", "storage": features.describe()})


def _unavailable(reason: str | None) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "database": f"unreachable ({reason})"}, 503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service_metrics: MetricsDep, pool: PoolDep) -> Response:
    size, idle = pool.get_size(), pool.get_idle_size()
    service_metrics.pool_connections.labels("in_use").set(size - idle)
    service_metrics.pool_connections.labels("idle").set(idle)
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
