"""Headers every response carries, so a browser confines the dashboard and the API.

The dashboard loads only its own files (no inline script or style, no network fetch), so
the policy can be strict: nothing from elsewhere, no framing (clickjacking a "shelve"
button), no referrer (one-click links carry a signature in their query). The generated
API docs at /docs and /redoc load their script from a CDN and inline: they get a policy
of their own that allows exactly that.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
STRICT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
              "frame-ancestors 'none'")
_DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
             "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
             "https://fastapi.tiangolo.com; connect-src 'self'; worker-src blob:; "
             "base-uri 'none'; frame-ancestors 'none'")
_DOCS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware: adds the headers without touching the body (streams pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = _DOCS_CSP if path.startswith(_DOCS) else STRICT_CSP
        extra = [*_COMMON, (b"content-security-policy", csp.encode())]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
