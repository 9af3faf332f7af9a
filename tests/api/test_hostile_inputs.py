"""Every operation of the running service, fed hostile inputs of every class in every place
(path, query, headers, body fields, whole body, compression, size): never a 5xx, and
every error is a documented problem that names what is wrong.

The operations come from the app's OpenAPI document, so a new endpoint is covered the day
it is added.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.api.problems import PROBLEM_MEDIA_TYPE
from tests.api.conftest import MAX_BODY_BYTES
from tests.api.hostile import (
    CONTENT_TYPES,
    HEADERS,
    JSON_VALUES,
    TEXT,
    WHOLE_BODIES,
    Operation,
    benign_body,
    benign_parameter,
    body_fields,
    gzip_cases,
    operations,
    poisoned_body,
    url,
)
from tests.api.roles import caller_for
from tests.support.service import AppHandle

CONCURRENCY = 6


@dataclass
class Attempt:
    label: str
    path_values: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, bytes | None] = field(default_factory=dict)
    content: bytes | None = None
    chunked: bool = False
    names: str | None = None  # the field a 422 must name


def attempts(operation: Operation) -> Iterator[Attempt]:
    params = operation.parameters
    path_values = {p["name"]: benign_parameter(p) for p in params if p["in"] == "path"}
    query = {p["name"]: benign_parameter(p) for p in params
             if p["in"] == "query" and p.get("required")}
    schema = operation.body_schema
    body = None if schema is None else json.dumps(benign_body(schema)).encode()
    json_type = {"content-type": b"application/json"}

    def benign(label: str, **changes: Any) -> Attempt:
        new_body = None if schema is None else json.dumps(benign_body(schema)).encode()
        base = Attempt(label, dict(path_values), dict(query), dict(json_type), new_body)
        for key, value in changes.items():
            setattr(base, key, value)
        return base

    for param in params:
        name, place = param["name"], param["in"]
        for kind, values in TEXT.items():
            for value in values:
                if place == "path" and not value:
                    continue  # an empty path segment addresses no operation
                attempt = benign(f"{kind} in {place} '{name}': {value[:24]!r}", names=name)
                if place == "path":
                    attempt.path_values[name] = value
                elif place == "query":
                    attempt.query[name] = value
                else:
                    attempt.headers[name] = value.encode("utf-8")
                yield attempt
    if schema is not None and body is not None:
        for where in body_fields(schema):
            for kind, raws in JSON_VALUES.items():
                for raw in raws:
                    names = str(where[-1]) if where[0] != "readings" else None
                    yield benign(f"{kind} in body field {where}: {raw[:24]!r}",
                                 content=poisoned_body(schema, where, raw), names=names)
        for label, content in WHOLE_BODIES.items():
            yield benign(f"body {label}", content=content)
        for label, (content, encoding) in gzip_cases(body).items():
            yield benign(label, content=content,
                         headers={**json_type, "content-encoding": encoding})
        for content_type in CONTENT_TYPES:
            yield benign(f"content type {content_type!r}", headers={"content-type": content_type})
        oversized = b'{"x": "' + b"x" * MAX_BODY_BYTES + b'"}'
        yield benign("a body over the limit", content=oversized)
        yield benign("a chunked body over the limit", content=oversized, chunked=True)
    for label, headers in HEADERS.items():
        yield benign(f"header: {label}", headers={**json_type, **headers})


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(content), 65536):
        yield content[i:i + 65536]


async def send(client: httpx.AsyncClient, operation: Operation, attempt: Attempt,
               token: str) -> tuple[int, str, bytes]:
    headers: dict[str, bytes] = {"authorization": f"Bearer {token}".encode()}
    for name, value in attempt.headers.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    content: Any = attempt.content
    if attempt.chunked and content is not None:
        content = _chunks(content)
    async with client.stream(operation.method.upper(), url(operation, attempt.path_values),
                             params=attempt.query, headers=headers, content=content) as answer:
        kind = answer.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            body = await anext(answer.aiter_bytes(), b"")  # the stream never ends by itself
        else:
            body = await answer.aread()
        return answer.status_code, kind, body


def verdict(operation: Operation, attempt: Attempt, status: int, kind: str,
            body: bytes) -> str | None:
    """What is wrong with this answer, or None."""
    if status >= 500:
        return f"answered {status}: {body[:300]!r}"
    media = kind.split(";")[0].strip()
    if status < 400:
        if media == "text/event-stream" and b"event: hello" not in body:
            return f"the stream began with {body[:200]!r}"
        return None
    documented = operation.documented(status)
    if media not in documented:
        return f"answered {status} as {media!r}; documented: {sorted(documented)}"
    if media != PROBLEM_MEDIA_TYPE:
        return None
    problem = json.loads(body)
    if problem.get("status") != status or not problem.get("detail"):
        return f"answered {status} with {problem!r}"
    if status == 422 and attempt.names and attempt.names not in problem["detail"]:
        return f"422 does not name {attempt.names!r}: {problem['detail']!r}"
    return None


@pytest.mark.timeout(300)
@pytest.mark.parametrize("operation", operations(), ids=str)
async def test_no_input_makes_a_server_error(operation: Operation, api_service: AppHandle,
                                             api_tokens: dict[str, str]) -> None:
    token = api_tokens[caller_for(operation.method, operation.path)]
    gate = asyncio.Semaphore(CONCURRENCY)
    failures: list[str] = []
    tried = 0

    async def one(client: httpx.AsyncClient, attempt: Attempt) -> None:
        nonlocal tried
        async with gate:
            status, kind, body = await send(client, operation, attempt, token)
        tried += 1
        wrong = verdict(operation, attempt, status, kind, body)
        if wrong is not None:
            failures.append(f"{attempt.label}: {wrong}")

    async with httpx.AsyncClient(base_url=api_service.url, timeout=60) as client:
        await asyncio.gather(*(one(client, a) for a in attempts(operation)))
    assert tried > 0
    assert not failures, f"{len(failures)} of {tried} answers were wrong:\n" + \
        "\n".join(failures[:40])


# A cursor that int() reads (or nearly): the stream must treat it as a gap, not abort.
ODD_SEQUENCES = ["\u0663", "\u00b2", "\uff11", "9" * 5000, "-1", "1e3", " 1", "", "1:2"]


async def test_a_stream_resumed_from_any_id_starts_and_does_not_abort(
        api_service: AppHandle, api_tokens: dict[str, str]) -> None:
    headers = {"authorization": f"Bearer {api_tokens['facilitator']}"}
    async with httpx.AsyncClient(base_url=api_service.url, timeout=30, headers=headers) as client:
        async with client.stream("GET", "/v1/stream") as first:
            hello = await anext(first.aiter_bytes())
        boot = hello.split(b"id: ", 1)[1].split(b":", 1)[0].decode()
        for seq in ODD_SEQUENCES:
            event_id = f"{boot}:{seq}"
            as_header = {"last-event-id": event_id.encode("utf-8")}
            for kwargs in ({"headers": as_header}, {"params": {"last_event_id": event_id}}):
                async with client.stream("GET", "/v1/stream", **kwargs) as answer:
                    assert answer.status_code == 200
                    chunks = answer.aiter_bytes()
                    opening = await anext(chunks)
                    if b"event: gap" not in opening:
                        opening += await anext(chunks)
                assert b"event: hello" in opening, (seq, opening)
                assert b"event: gap" in opening, (seq, opening)


STATIC_PATHS = ["%00", "a%00.js", "..%2f..%2f..%2fetc%2fpasswd", "../../pyproject.toml",
                "x" * 4000 + ".js", "%ff%fe.css", "vendor/%2e%2e/../../x.html", "\u0663.js",
                "dashboard.js%00.html", "vendor/"]


async def test_the_page_and_its_files_never_fail(api_service: AppHandle) -> None:
    """The routes the OpenAPI document leaves out: the dashboard page and its files."""
    async with httpx.AsyncClient(base_url=api_service.url, timeout=30) as client:
        for path in STATIC_PATHS:
            answer = await client.get(f"/static/{path}")
            assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
            assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert (await client.get("/static/dashboard.js")).status_code == 200
        for query in ("?%00=1", "?a=%ff", "?" + "x" * 4000):
            assert (await client.get("/" + query)).status_code == 200
