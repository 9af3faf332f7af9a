"""People log in as people: a password checked against its argon2 hash, a session cookie
the browser keeps from scripts and other sites, CSRF protection on every change, failed
attempts limited and recorded, and `heatlink user` to manage them."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import httpx

from services.access.principal import Role
from services.runtimes import runtimes_of
from tests.support.service import AppHandle, make_user


async def log_in(client: httpx.AsyncClient, login: tuple[str, str],
                 **headers: str) -> httpx.Response:
    return await client.post("/v1/session", json={"username": login[0], "password": login[1]},
                             headers=headers)


def set_cookie(response: httpx.Response) -> str:
    return response.headers.get("set-cookie", "")


async def test_a_person_logs_in_and_the_cookie_is_out_of_scripts_and_other_sites_reach(
        live_service: AppHandle, database_url: str) -> None:
    farmer = await make_user(database_url, "fjordsmolt", Role.RECIPIENT)
    async with live_service.client() as client:
        answer = await log_in(client, farmer)
        assert answer.status_code == 200, answer.text
        assert answer.json()["org"] == "fjordsmolt"
        cookie = set_cookie(answer).lower()
        assert cookie.startswith("heatlink_session=")
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "path=/" in cookie
        assert "secure" not in cookie  # plain http here: a Secure cookie would not come back
        # The session reads what the farm may read, and nothing of the smelter's own.
        assert (await client.get("/v1/dashboard")).json()["org"] == "fjordsmolt"
        hidden = await client.get(
            "/v1/series/glomfjord/smelter/hx1/primary/supply_temp/readings")
        assert hidden.status_code == 404
    # Behind a TLS proxy (X-Forwarded-Proto from a trusted address) the cookie is Secure
    # and named __Host-, which browsers bind to https and this host.
    async with live_service.client() as client:
        answer = await log_in(client, farmer, **{"X-Forwarded-Proto": "https"})
        assert answer.status_code == 200
        cookie = set_cookie(answer).lower()
        assert cookie.startswith("__host-heatlink_session=")
        assert "; secure" in cookie


async def test_every_change_by_cookie_needs_the_csrf_token_and_our_origin(
        live_service: AppHandle, database_url: str) -> None:
    operator = await make_user(database_url, "fjordsmolt", Role.OPERATOR)
    async with live_service.client() as client:
        session = (await log_in(client, operator)).json()
        # A forged form post: the cookie alone does not do it.
        refused = await client.post("/v1/stream/ticket")
        assert refused.status_code == 403, refused.text
        assert "X-CSRF-Token" in refused.json()["detail"]
        wrong = await client.post("/v1/stream/ticket", headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        foreign = await client.post("/v1/stream/ticket", headers={
            "X-CSRF-Token": session["csrf_token"], "Origin": "https://evil.example"})
        assert foreign.status_code == 403
        ticket = await client.post("/v1/stream/ticket",
                                   headers={"X-CSRF-Token": session["csrf_token"]})
        assert ticket.status_code == 200, ticket.text
        # The ticket opens the stream for the person's session.
        async with client.stream("GET", ticket.json()["stream_url"]) as stream:
            assert stream.status_code == 200
            assert b"event: hello" in await anext(stream.aiter_bytes())
        # Reading needs no token; logging out does, and ends the session.
        assert (await client.get("/v1/session")).json()["csrf_token"] == session["csrf_token"]
        assert (await client.delete("/v1/session")).status_code == 403
        out = await client.delete("/v1/session",
                                  headers={"X-CSRF-Token": session["csrf_token"]})
        assert out.status_code == 204
        assert (await client.get("/v1/dashboard")).status_code == 401


async def test_failed_logins_are_limited_per_username_and_recorded(
        live_service: AppHandle, database_url: str) -> None:
    victim = await make_user(database_url, "fjordsmolt", Role.OPERATOR)
    admin = await make_user(database_url, "fjordsmolt", Role.ADMIN)
    limit = runtimes_of(live_service.app).settings.login_max_failures
    async with live_service.client() as client:
        for _ in range(limit):
            wrong = await log_in(client, (victim[0], "not the password at all"))
            assert wrong.status_code == 401
            assert wrong.json()["detail"] == "unknown username or wrong password"
        # Past the limit even the right password is refused, with when to try again.
        blocked = await log_in(client, victim)
        assert blocked.status_code == 429, blocked.text
        assert 0 < int(blocked.headers["retry-after"]) <= 900
        # An unknown name answers as a wrong password does.
        unknown = await log_in(client, ("nobody-at-all", "whatever it may be"))
        assert unknown.status_code == 401
        assert unknown.json()["detail"] == wrong.json()["detail"]
    async with live_service.client() as client:
        await log_in(client, admin)
        log = (await client.get("/v1/login-attempts")).json()
    mine = [a["outcome"] for a in log if a["username"] == victim[0]]
    assert mine == ["rate_limited"] + ["bad_password"] * limit
    assert all(a["client"] == "127.0.0.1" for a in log)


def heatlink_user(database_url: str, *args: str, stdin: str | None = None
                  ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatlink.cli", "user", *args],
                          input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HEATLINK_DATABASE_URL": database_url})


async def test_heatlink_user_creates_lists_changes_and_disables_people(
        live_service: AppHandle, database_url: str) -> None:
    made = heatlink_user(database_url, "create", "kari.fjordsmolt", "--org", "fjordsmolt",
                         "--role", "operator", "--name", "Kari Nordmann", "--password-stdin",
                         stdin="first password 1\n")
    assert made.returncode == 0, made.stderr
    weak = heatlink_user(database_url, "create", "ola", "--org", "fjordsmolt", "--role",
                         "operator", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2
    assert "at least 12 characters" in weak.stderr
    machine = heatlink_user(database_url, "create", "gw", "--org", "fjordsmolt", "--role",
                            "gateway", "--password-stdin", stdin="a long password\n")
    assert machine.returncode == 2
    assert "heatlink token create" in machine.stderr
    listed = heatlink_user(database_url, "list", "--org", "fjordsmolt").stdout
    assert "kari.fjordsmolt\tfjordsmolt\toperator\tactive\tKari Nordmann" in listed
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        stored = await pool.fetchval("SELECT password_hash FROM users WHERE username = $1",
                                     "kari.fjordsmolt")
    finally:
        await pool.close()
    assert stored.startswith("$argon2id$")
    assert "first password" not in stored

    async with live_service.client() as client:
        assert (await log_in(client, ("kari.fjordsmolt", "first password 1"))).status_code == 200
        changed = heatlink_user(database_url, "passwd", "kari.fjordsmolt", "--password-stdin",
                                stdin="second password 2\n")
        assert changed.returncode == 0, changed.stderr
        # A new password ends the sessions opened with the old one.
        assert (await client.get("/v1/dashboard")).status_code == 401
        assert (await log_in(client, ("kari.fjordsmolt", "first password 1"))).status_code == 401
        assert (await log_in(client, ("kari.fjordsmolt", "second password 2"))).status_code == 200
        disabled = heatlink_user(database_url, "disable", "kari.fjordsmolt")
        assert disabled.returncode == 0, disabled.stderr
        assert (await client.get("/v1/dashboard")).status_code == 401
        assert (await log_in(client, ("kari.fjordsmolt", "second password 2"))).status_code == 401
    assert "disabled" in heatlink_user(database_url, "list").stdout
