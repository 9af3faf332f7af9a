"""503 for every request that meets an unreachable database, installed once on the app.

Routes, dependencies (the token lookup) and services let database errors rise; here they
become a problem body (RFC 9457) with `Retry-After`, are counted and, at the first of an
outage, logged once, without a traceback per request. An error that is not an outage
(`unavailable_reason` says None) is raised again and stays a 500.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.storage.health import RETRY_AFTER_S, StorageHealth, unavailable_reason

PROBLEM = "application/problem+json"


def storage_unavailable(reason: str | None) -> JSONResponse:
    """The answer while the database is unreachable; /readyz uses it too."""
    return JSONResponse(
        {"type": "about:blank", "title": "Service Unavailable", "status": 503,
         "detail": f"the database is unreachable ({reason or 'unknown'}); this request "
                   f"was not completed, try again in {RETRY_AFTER_S} s",
         "reason": reason},
        status_code=503, media_type=PROBLEM, headers={"Retry-After": str(RETRY_AFTER_S)})


def install_storage_answers(app: FastAPI, health: StorageHealth) -> None:
    async def answer(request: Request, exc: Exception) -> Response:
        if not health.failed(exc, f"{request.method} {request.url.path}"):
            raise exc
        return storage_unavailable(unavailable_reason(exc))

    # Starlette picks a handler by the exception's class hierarchy: these cover asyncpg's
    # errors (InternalClientError derives from Exception alone) and the socket errors of a
    # refused or broken connection.
    for kind in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                 asyncpg.InternalClientError):
        app.add_exception_handler(kind, answer)
