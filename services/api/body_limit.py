"""A bound on request bodies, so that no endpoint reads more than the service will accept."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import problem_response


def _too_large(max_bytes: int) -> str:
    return (f"the request body exceeds the limit of {max_bytes} bytes "
            "(HEATLINK_MAX_BODY_BYTES); send smaller requests or batches")


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large(max_bytes))


class BodyLimit:
    """Answers 413 when ``Content-Length`` announces more than ``max_bytes``, and stops a
    body without one (chunked) once it has sent more."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            # More than 18 digits is too large whatever the bound, and int() of thousands
            # of digits raises.
            if name == b"content-length" and value.isdigit() and (
                    len(value) > 18 or int(value) > self.max_bytes):
                response = problem_response(413, _too_large(self.max_bytes))
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised into whoever reads the body; the app's handler answers 413.
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)
