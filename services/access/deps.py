"""FastAPI dependencies: the caller from its bearer token, and scope checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.access.principal import Principal, Scope
from services.access.tokens import TokenStore

_HOW = "Send 'Authorization: Bearer <token>'; ask your organisation's admin for a token."
# Declares the scheme in the OpenAPI document; the header is read below, with our messages.
_BEARER = HTTPBearer(auto_error=False, description="An API token (`heatlink token create`)")


async def current_principal(
        request: Request,
        _declared: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing bearer token. {_HOW}",
                            headers={"WWW-Authenticate": "Bearer"})
    tokens: TokenStore = request.app.state.tokens
    principal = await tokens.authenticate(token.strip())
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"the token is unknown, revoked or expired. {_HOW}",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has(scope):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this token lacks the '{scope}' scope; "
                                "ask your organisation's admin for one that has it")
        return principal
    return check
