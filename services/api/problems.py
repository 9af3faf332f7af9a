"""One shape for every error the service answers: problem details (RFC 9457).

``detail`` says in words what is wrong and names the field; a request that fails
validation also carries ``errors``, one entry per field. What a client sent is never
echoed back raw (it may hold NaN, NUL or lone surrogates that JSON or UTF-8 cannot carry),
so building an error answer cannot itself fail.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from heatlink.inputs import printable

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_LISTED_ERRORS = 20


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: 'body', 'query', 'path' or 'header', "
                                 "then the field's path", examples=[["query", "start"]])
    msg: str = Field(description="What is wrong with it",
                     examples=["needs a UTC offset, e.g. 2026-01-15T06:00:00Z"])
    type: str = Field(description="A stable code for the kind of error",
                      examples=["timezone_required"])


class Problem(BaseModel):
    """Problem details (RFC 9457), the body of every error answer."""

    type: str = Field("about:blank", description="Always about:blank: `status` and `title` "
                      "say the kind, `detail` says what")
    title: str = Field(description="The HTTP status phrase", examples=["Unprocessable Content"])
    status: int = Field(description="The HTTP status code", examples=[422])
    detail: str = Field(description="What is wrong, in words, naming the field",
                        examples=["query parameter 'start': needs a UTC offset, "
                                  "e.g. 2026-01-15T06:00:00Z"])
    errors: list[FieldError] | None = Field(None, description="Each invalid field, when the "
                                            "request failed validation")


def _clean(value: Any) -> Any:
    """``value`` with every string valid UTF-8, every float finite: always serialisable."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(_clean(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def problem_response(status: int, detail: str, *, errors: list[FieldError] | None = None,
                     headers: Mapping[str, str] | None = None) -> ProblemResponse:
    """The answer for an error: use it wherever a route answers an error by hand."""
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail,
                   errors=errors)
    return ProblemResponse(body.model_dump(exclude_none=True), status_code=status,
                           headers=headers)


_PLACES = {"body": "body field", "query": "query parameter", "path": "path parameter",
           "header": "header", "cookie": "cookie"}


def _where(loc: list[str | int]) -> str:
    if not loc:
        return "the request"
    place, path = str(loc[0]), loc[1:]
    if not path:
        return "the body" if place == "body" else place
    dotted = str(path[0])
    for part in path[1:]:
        dotted += f"[{part}]" if isinstance(part, int) else f".{part}"
    return f"{_PLACES.get(place, place)} '{dotted}'"


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else printable(str(part), 80)
               for part in error.get("loc", ())]
        kind = str(error.get("type", "invalid"))
        msg = str(error.get("msg", "is invalid"))
        if kind == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
            # FastAPI reports where JSON decoding stopped as if it were a field.
            reason = str((error.get("ctx") or {}).get("error", "JSON decode error"))
            loc, msg = ["body"], f"is not valid JSON: {reason} at character {loc[1]}"
        out.append(FieldError(loc=loc, msg=msg, type=kind))
    return out


def validation_detail(errors: list[FieldError]) -> str:
    parts = [f"{_where(e.loc)}: {e.msg}" for e in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_LISTED_ERRORS} more")
    return "; ".join(parts)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    return problem_response(422, validation_detail(errors), errors=errors[:MAX_LISTED_ERRORS])


def _unreadable_body(cause: BaseException) -> str:
    if isinstance(cause, RecursionError):
        return "the body cannot be read: its JSON nests deeper than the parser allows"
    if isinstance(cause, UnicodeDecodeError):
        return f"the body cannot be read: it is not UTF-8 (byte {cause.start})"
    return f"the body cannot be read as JSON: {printable(str(cause), 200)}"


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(_clean(exc.detail))
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError | ValueError):
        # FastAPI's own "error parsing the body" hides why; say it.
        detail = _unreadable_body(exc.__cause__)
    if exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback itself after this answer is sent.
    return problem_response(500, "the service failed on this request; its log says why")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
