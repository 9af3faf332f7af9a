"""The wiring: every part a route depends on is bound once the app has started, and an app
that has not started answers a clear 503, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services import app as app_module
from services.access import deps as access
from services.app import create_app
from services.deps import Part, bound_parts
from services.settings import Settings
from tests.support.service import AppHandle


def _parts(dependant: Dependant) -> Iterator[Part[Any]]:
    if isinstance(dependant.call, Part):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _parts(sub)


async def test_every_part_a_route_needs_is_bound_after_the_start(service: AppHandle) -> None:
    # The routers create_app includes (FastAPI keeps them behind a wrapper of its own).
    routers = [v for v in vars(app_module).values() if isinstance(v, APIRouter)]
    assert len(routers) >= 14
    needed = {part for router in routers for route in router.routes
              if isinstance(route, APIRoute) for part in _parts(route.dependant)}
    # The caller's check reads these itself (it is called directly by the stream too).
    needed |= {access.token_store, access.session_store}
    # The runtimes each router declares, at least, are among them.
    assert {p.name for p in needed} >= {"ingest", "alerts", "monitor", "control", "accounting",
                                        "live hub", "dashboard", "token store", "database pool"}
    parts = bound_parts(service.app)
    for part in needed:
        parts.get(part)  # raises (503) for a part the start left unbound


async def test_before_its_start_the_app_answers_503_naming_what_is_missing(
        database_url: str) -> None:
    app = create_app(Settings(database_url=database_url))  # its lifespan never runs
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/v1/latest", headers={"Authorization": "Bearer hl_x"})
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "has not started its token store" in answer.json()["detail"]
