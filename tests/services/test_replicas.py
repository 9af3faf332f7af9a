"""Issue 17, item 3: streams and control across replicas, on real `heatlink serve`
processes sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from services.access.principal import Role
from tests.dashboard.sse import messages
from tests.support.replicas import service_replicas
from tests.support.service import ServiceProcess, make_token

pytestmark = pytest.mark.slow


@pytest.fixture
async def two(fresh_database_url: str) -> AsyncIterator[list[ServiceProcess]]:
    async with service_replicas(fresh_database_url, 2) as processes:
        yield processes


def client(process: ServiceProcess, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=process.url, headers=headers, timeout=30)


async def test_a_ticket_from_one_replica_opens_the_stream_on_another_once(
        two: list[ServiceProcess], fresh_database_url: str) -> None:
    a, b = two
    token = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    async with client(a, token) as farm:
        ticket = (await farm.post("/v1/stream/ticket")).json()
    async with client(b) as browser, asyncio.timeout(30), \
            browser.stream("GET", ticket["stream_url"]) as opened:
        assert opened.status_code == 200
        assert (await anext(messages(opened))).event == "hello"
    # Used on b: neither replica opens a second stream with it.
    for process in (a, b):
        async with client(process) as browser:
            again = await browser.get(ticket["stream_url"])
        assert again.status_code == 401
        assert "used" in again.json()["detail"]


async def test_one_ticket_given_to_both_replicas_at_once_opens_one_stream(
        two: list[ServiceProcess], fresh_database_url: str) -> None:
    token = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    async with client(two[0], token) as farm:
        ticket = (await farm.post("/v1/stream/ticket")).json()

    async def open_on(process: ServiceProcess) -> int:
        async with client(process) as browser, \
                browser.stream("GET", ticket["stream_url"]) as response:
            if response.status_code == 200:
                assert (await anext(messages(response))).event == "hello"
            return response.status_code

    async with asyncio.timeout(30):
        codes = await asyncio.gather(*(open_on(p) for p in two))
    assert sorted(codes) == [200, 401]
