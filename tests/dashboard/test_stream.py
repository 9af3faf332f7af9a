"""The live stream: filtered by access, resumable without gaps, honest about gaps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.testing import FakeClock
from services.access.principal import Role
from services.live.stream import KEEPALIVE_S
from services.live.tickets import TicketBook
from services.runtimes import runtimes_of
from tests.dashboard.conftest import ingest
from tests.dashboard.sse import messages, values_until
from tests.support.service import AppHandle, make_token

SHARED = "glomfjord/smelter/hx1/secondary/supply_temp"   # smelter's, shared with the farm
PRIVATE = "glomfjord/smelter/hx1/primary/supply_temp"    # smelter's own


async def test_a_recipient_streams_what_is_shared_and_nothing_else(
        live_service: AppHandle, org_tokens: dict[str, str], glomfjord_gateway: str) -> None:
    async with (live_service.client(org_tokens["fjordsmolt"]) as farm,
                live_service.client(glomfjord_gateway) as gw,
                farm.stream("GET", "/v1/stream") as response, asyncio.timeout(20)):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = messages(response)
        hello = await anext(stream)
        assert hello.event == "hello"
        await ingest(gw, [(PRIVATE, 31.5), (SHARED, 18.25)])
        await ingest(gw, [(PRIVATE, 31.6)])
        await ingest(gw, [(SHARED, 18.5)])  # after the private value: a marker
        seen, _ = await values_until(stream, SHARED, 18.5)
    # Only what the farm may see: heat power the monitor derives from readings earlier
    # tests left behind may pass by too, since the exchange shares it with the farm.
    visible = ClusterIndex(load_cluster(EXAMPLE_CLUSTER)).visible_series("fjordsmolt")
    assert PRIVATE not in visible
    assert {v["series"] for v in seen} <= visible
    assert [v["value"] for v in seen if v["series"] == SHARED] == [18.25, 18.5]


async def test_a_reconnect_with_the_last_event_id_misses_nothing(
        live_service: AppHandle, org_tokens: dict[str, str], glomfjord_gateway: str) -> None:
    async with live_service.client(org_tokens["fjordsmolt"]) as farm, \
            live_service.client(glomfjord_gateway) as gw, asyncio.timeout(20):
        async with farm.stream("GET", "/v1/stream") as response:
            stream = messages(response)
            await anext(stream)
            await ingest(gw, [(SHARED, 17.0)])
            _, last_id = await values_until(stream, SHARED, 17.0)
        # Disconnected: these arrive while nobody listens.
        for value in (17.1, 17.2, 17.3):
            await ingest(gw, [(SHARED, value)])
        async with farm.stream("GET", "/v1/stream",
                               headers={"Last-Event-ID": str(last_id)}) as response:
            stream = messages(response)
            assert (await anext(stream)).event == "hello"
            seen, _ = await values_until(stream, SHARED, 17.3)
    # Heat power the monitor derives from these readings (shared with the farm) may pass by.
    assert [v["value"] for v in seen if v["series"] == SHARED] == [17.1, 17.2, 17.3]


async def test_a_cursor_from_another_run_is_told_to_reload(
        live_service: AppHandle, org_tokens: dict[str, str]) -> None:
    async with live_service.client(org_tokens["fjordsmolt"]) as farm, asyncio.timeout(20), \
            farm.stream("GET", "/v1/stream", params={"last_event_id": "0000:12"}) as response:
        stream = messages(response)
        assert (await anext(stream)).event == "hello"
        gap = await anext(stream)
    assert gap.event == "gap"
    assert "/v1/latest" in gap.data["what_to_do"]


async def test_a_browser_opens_the_stream_with_a_short_lived_ticket(
        live_service: AppHandle, org_tokens: dict[str, str], glomfjord_gateway: str) -> None:
    async with live_service.client(org_tokens["fjordsmolt"]) as farm:
        ticket = (await farm.post("/v1/stream/ticket")).json()
    async with live_service.client() as browser, \
            live_service.client(glomfjord_gateway) as gw, asyncio.timeout(20), \
            browser.stream("GET", ticket["stream_url"]) as response:
        assert response.status_code == 200
        stream = messages(response)
        await anext(stream)
        await ingest(gw, [(SHARED, 16.5)])
        seen, _ = await values_until(stream, SHARED, 16.5)
    assert seen[-1]["value"] == 16.5


@pytest.mark.parametrize(("params", "status"), [
    ({}, 401),
    ({"ticket": "st_not-a-ticket"}, 401),
])
async def test_the_stream_refuses_a_caller_without_a_valid_token(
        live_service: AppHandle, params: dict[str, str], status: int) -> None:
    async with live_service.client() as anonymous:
        response = await anonymous.get("/v1/stream", params=params)
    assert response.status_code == status
    assert "Bearer" in response.json()["detail"]


async def test_revoking_the_token_ends_its_open_stream(
        live_service: AppHandle, database_url: str) -> None:
    token = await make_token(database_url, "fjordsmolt", Role.RECIPIENT, name="to revoke")
    # Checks come with each keep-alive; make them frequent for this test.
    runtimes_of(live_service.app).live.keepalive_s = 0.2
    try:
        async with live_service.client(token) as farm, asyncio.timeout(20), \
                farm.stream("GET", "/v1/stream") as response:
            stream = messages(response)
            assert (await anext(stream)).event == "hello"
            tokens = runtimes_of(live_service.app).tokens
            token_id = next(r["id"] for r in await tokens.list("fjordsmolt")
                            if r["name"] == "to revoke")
            assert await tokens.revoke(token_id)
            end = await anext(stream)
    finally:
        runtimes_of(live_service.app).live.keepalive_s = KEEPALIVE_S
    assert end.event == "end"
    assert "revoked" in end.data["reason"]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_ticket_opens_one_stream_before_it_expires(
        live_service: AppHandle, pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    book = TicketBook(pool, clock, ttl_s=120)
    ticket, _ = await book.issue("hl_token", "fjordsmolt")
    clock.advance(119)
    found = await book.redeem(ticket)
    assert found is not None
    assert (found.token, found.org) == ("hl_token", "fjordsmolt")
    assert await book.redeem(ticket) is None  # used: a leaked URL opens nothing
    late, _ = await book.issue("hl_token", "fjordsmolt")
    clock.advance(121)
    assert await book.redeem(late) is None
    assert await book.redeem("st_unknown") is None


async def test_the_database_holds_no_usable_credential_for_a_ticket(
        live_service: AppHandle, pool: asyncpg.Pool) -> None:
    book = TicketBook(pool, FakeClock(), ttl_s=120)
    ticket, _ = await book.issue("hl_secret_token_value", "fjordsmolt")
    rows = await pool.fetch("SELECT hash, sealed FROM stream_tickets")
    assert all(b"hl_secret_token_value" not in bytes(r["sealed"]) for r in rows)
    assert all(ticket.encode() not in bytes(r["hash"]) for r in rows)
    found = await book.redeem(ticket)
    assert found is not None
    assert found.token == "hl_secret_token_value"


async def test_one_company_asking_for_many_tickets_does_not_push_out_anothers(
        live_service: AppHandle, pool: asyncpg.Pool) -> None:
    book = TicketBook(pool, FakeClock(), ttl_s=120, max_per_org=50)
    farm, _ = await book.issue("hl_farm", "fjordsmolt")
    flood = [(await book.issue("hl_greenhouse", "mo-greenhouse"))[0] for _ in range(300)]
    assert await book.count("mo-greenhouse") == 50  # its own oldest went first
    assert await book.redeem(flood[0]) is None
    assert await book.redeem(flood[-1]) is not None
    found = await book.redeem(farm)
    assert found is not None
    assert found.org == "fjordsmolt"


async def test_a_used_ticket_opens_no_second_stream(
        live_service: AppHandle, org_tokens: dict[str, str]) -> None:
    async with live_service.client(org_tokens["fjordsmolt"]) as farm:
        ticket = (await farm.post("/v1/stream/ticket")).json()
    async with live_service.client() as browser, asyncio.timeout(20):
        async with browser.stream("GET", ticket["stream_url"]) as first:
            assert first.status_code == 200
            assert (await anext(messages(first))).event == "hello"
        again = await browser.get(ticket["stream_url"])
    assert again.status_code == 401
    assert "used" in again.json()["detail"]
