"""FastAPI dependencies: the caller from its bearer token or its session cookie, and scope
checks.

A machine sends `Authorization: Bearer <token>`; a person's browser sends the session
cookie set at login. A cookie travels with every request the browser makes, also one a
hostile page triggers, so a request that changes anything and is authenticated by the
cookie alone must also carry the session's CSRF token in `X-CSRF-Token` (which another
site cannot read) and, when the browser names an Origin, come from this service's own.
The bearer header is never sent by a browser on its own, so it needs neither.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.access.attempts import LoginAttempts
from services.access.principal import Principal, Scope
from services.access.sessions import SESSION_PREFIX, Session, SessionStore
from services.access.tokens import TokenStore
from services.access.users import UserStore
from services.deps import Part

_HOW = ("Send 'Authorization: Bearer <token>' (ask your organisation's admin for a token), "
        "or log in at POST /v1/session.")
# Declares the scheme in the OpenAPI document; the header is read below, with our messages.
_BEARER = HTTPBearer(auto_error=False, description="An API token (`heatlink token create`)")
SESSION_COOKIE = "heatlink_session"
SECURE_SESSION_COOKIE = "__Host-heatlink_session"  # the name browsers bind to https and /
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The access parts the app binds at start (`services/runtimes.py`).
token_store = Part[TokenStore]("token store")
session_store = Part[SessionStore]("session store")
user_store = Part[UserStore]("user store")
login_attempt_store = Part[LoginAttempts]("login attempts")
Tokens = Annotated[TokenStore, Depends(token_store)]
Sessions = Annotated[SessionStore, Depends(session_store)]
Users = Annotated[UserStore, Depends(user_store)]
Attempts = Annotated[LoginAttempts, Depends(login_attempt_store)]


def session_secret(request: Request) -> str | None:
    return (request.cookies.get(SECURE_SESSION_COOKIE)
            or request.cookies.get(SESSION_COOKIE) or None)


async def cookie_session(request: Request) -> Session | None:
    secret = session_secret(request)
    if secret is None:
        return None
    return await session_store(request).authenticate(secret)


def check_csrf(request: Request, session: Session) -> None:
    """Refuse a cookie-authenticated change without the session's CSRF token or from
    another origin (403)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "this change comes from another site's page; it is refused")
    sent = request.headers.get(CSRF_HEADER, "")
    if not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "a change made with a session cookie needs the session's "
                            "X-CSRF-Token header (GET /v1/session gives it); reload the page")


async def current_principal(
        request: Request,
        _declared: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Principal:
    header = request.headers.get("authorization", "")
    if not header:
        session = await cookie_session(request)
        if session is not None:
            check_csrf(request, session)
            return session.principal
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"missing bearer token or session. {_HOW}",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = await token_store(request).authenticate(token.strip())
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"the token is unknown, revoked or expired. {_HOW}",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has(scope):
            who = "your role" if principal.user_id is not None else "this token"
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"{who} lacks the '{scope}' scope; "
                                "ask your organisation's admin for one that has it")
        return principal
    return check


def request_credential(request: Request) -> str:
    """What authenticated this request, to check again later (a stream's ticket, a long
    stream's keep-alive): the bearer token, or the session cookie's secret."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Otherwise the cookie authenticated it (`current_principal` tries the cookie only
    # when no Authorization header is sent).
    return session_secret(request) or ""


async def principal_for(request: Request, credential: str) -> Principal | None:
    """The principal behind a credential from ``request_credential``, if still valid."""
    if credential.startswith(SESSION_PREFIX):
        session = await session_store(request).authenticate(credential)
        return session.principal if session is not None else None
    return await token_store(request).authenticate(credential)
