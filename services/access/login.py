"""POST /v1/session (log in), GET /v1/session (who am I, and the CSRF token), DELETE
/v1/session (log out): people's sessions in the browser.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
it) and Secure whenever the service is reached over https (then named ``__Host-…``, which
browsers bind to this host and to https). Every attempt is recorded; failures are limited
per username and per client address (``services.access.attempts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from heatlink.inputs import Name
from services.access.attempts import Refused
from services.access.deps import (
    SECURE_SESSION_COOKIE,
    SESSION_COOKIE,
    Attempts,
    Sessions,
    Users,
    check_csrf,
    cookie_session,
    require_scope,
    session_secret,
)
from services.access.passwords import MAX_LENGTH
from services.access.principal import Principal, Scope
from services.access.sessions import Session
from services.deps import SettingsDep
from services.settings import Settings

router = APIRouter(prefix="/v1", tags=["access"])
_WRONG = "unknown username or wrong password"


class LoginIn(BaseModel):
    username: Name = Field(max_length=100, examples=["anna"])
    password: str = Field(min_length=1, max_length=MAX_LENGTH, examples=["correct horse battery"])


class SessionOut(BaseModel):
    username: str = Field(examples=["anna"])
    org: str = Field(examples=["fjordsmolt"])
    role: str = Field(examples=["operator"])
    scopes: list[str] = Field(examples=[["control", "read", "safety"]])
    csrf_token: str = Field(description="Send it back in `X-CSRF-Token` on every request "
                            "that changes something", examples=["q2b7…"])
    expires_at: datetime = Field(description="When the session ends at the latest")


class LoginAttemptOut(BaseModel):
    at: datetime
    username: str
    client: str = Field(description="The client's address as the service saw it")
    outcome: str = Field(description="ok, bad_password, disabled or rate_limited")


def _out(session: Session) -> SessionOut:
    p = session.principal
    return SessionOut(username=p.name, org=p.org, role=str(p.role),
                      scopes=sorted(str(s) for s in p.scopes), csrf_token=session.csrf_token,
                      expires_at=session.expires_at)


def _secure(request: Request, settings: Settings) -> bool:
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    return request.url.scheme == "https"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/session", response_model=SessionOut,
             summary="Log in as a person: sets the session cookie",
             description="For people at the dashboard; machines use API tokens. Answers 401 "
             "alike for an unknown username, a wrong password and a disabled user. After "
             "`HEATLINK_LOGIN_MAX_FAILURES` failures for one username (or "
             "`HEATLINK_LOGIN_MAX_FAILURES_PER_CLIENT` from one address) within "
             "`HEATLINK_LOGIN_WINDOW_S`, attempts answer 429 with `Retry-After`. Every "
             "attempt is recorded.",
             responses={401: {"description": "Unknown username, wrong password or disabled"},
                        403: {"description": "Sent from another site's page"},
                        429: {"description": "Too many failed attempts; see Retry-After"}})
async def log_in(request: Request, response: Response, body: LoginIn, users: Users,
                 attempts: Attempts, sessions: Sessions, settings: SettingsDep) -> SessionOut:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        # Login CSRF: another site logging the browser in to an account of its choosing.
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a login from another site's page is "
                            "refused")
    result = await attempts.attempt(body.username, _client(request),
                                    lambda: users.check(body.username, body.password))
    if isinstance(result, Refused):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed logins; try again in {result.retry_after_s} s",
                            headers={"Retry-After": str(result.retry_after_s)})
    outcome, user = result
    if outcome != "ok" or user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _WRONG)
    secret, session = await sessions.open(user, _client(request))
    secure = _secure(request, settings)
    response.set_cookie(SECURE_SESSION_COOKIE if secure else SESSION_COOKIE, secret,
                        max_age=int(sessions.ttl_s), path="/", secure=secure, httponly=True,
                        samesite="strict")
    response.headers["Cache-Control"] = "no-store"
    return _out(session)


@router.get("/session", response_model=SessionOut,
            summary="The logged-in person and the session's CSRF token",
            responses={401: {"description": "No live session"}})
async def who(request: Request, response: Response) -> SessionOut:
    session = await cookie_session(request)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in; POST /v1/session")
    response.headers["Cache-Control"] = "no-store"
    return _out(session)


@router.delete("/session", status_code=204, response_class=Response,
               summary="Log out: ends the session",
               responses={401: {"description": "No live session"},
                          403: {"description": "Without the session's X-CSRF-Token"}})
async def log_out(request: Request, sessions: Sessions) -> Response:
    session = await cookie_session(request)
    secret = session_secret(request)
    if session is None or secret is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in")
    check_csrf(request, session)
    await sessions.close(secret)
    answer = Response(status_code=204)
    for name in (SESSION_COOKIE, SECURE_SESSION_COOKIE):
        answer.delete_cookie(name, path="/", secure=name == SECURE_SESSION_COOKIE,
                             httponly=True, samesite="strict")
    return answer


@router.get("/login-attempts", response_model=list[LoginAttemptOut],
            summary="Login attempts at the caller's organisation's users, newest first",
            description="Needs the admin scope. Attempts at unknown usernames belong to no "
                        "organisation and are not listed.")
async def login_attempts(
        principal: Annotated[Principal, Depends(require_scope(Scope.ADMIN))],
        attempts: Attempts,
) -> list[LoginAttemptOut]:
    return [LoginAttemptOut(**dict(r)) for r in await attempts.recent(principal.org, 1000)]
