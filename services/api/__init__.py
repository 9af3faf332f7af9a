"""What every endpoint shares: one error model, a bound on request bodies, and an OpenAPI
document that a client generator or a fuzzer can use as it stands."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.body_limit import BodyLimit
from services.api.openapi import install_openapi
from services.api.problems import install_problem_handlers


def install(app: FastAPI, *, max_body_bytes: int) -> None:
    """Error handlers, the body bound and the OpenAPI document, on ``app``."""
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    install_openapi(app)
