"""The OpenAPI document as a client generator or a fuzzer reads it: every reference
resolves, and every error answer is documented with the one error model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.api.problems import PROBLEM_MEDIA_TYPE
from tests.api.hostile import METHODS, openapi_document

DOC = openapi_document()
# Errors answered in another shape on purpose: pages for people, a readiness probe.
OTHER_SHAPES = {("get", "/v1/alerts/{alert_id}/link", "403"),
                ("get", "/v1/alerts/{alert_id}/link", "404"),
                ("post", "/v1/alerts/{alert_id}/link", "403"),
                ("post", "/v1/alerts/{alert_id}/link", "404"),
                ("get", "/readyz", "503")}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves() -> None:
    refs = set(references(DOC))
    assert "#/components/schemas/Quality" in refs  # ingest's readings, once unresolvable
    for ref in refs:
        resolve(ref)
    assert "$defs" not in str(DOC)


@pytest.mark.parametrize(("method", "path", "operation"), list(operations()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_error_answer_is_documented_as_a_problem(method: str, path: str,
                                                       operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    errors = {code: r for code, r in responses.items() if code.isdigit() and int(code) >= 400}
    assert "503" in errors
    if operation.get("parameters") or "requestBody" in operation:
        assert "422" in errors
    if operation.get("security"):
        assert {"401", "403"} <= errors.keys()
    for code, response in errors.items():
        assert response["description"]
        if (method, path, code) in OTHER_SHAPES:
            continue
        assert response["content"] == {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}, code


def test_the_problem_model_names_the_field() -> None:
    problem = DOC["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"title", "status", "detail"}
    field_error = resolve(problem["properties"]["errors"]["anyOf"][0]["items"]["$ref"])
    assert set(field_error["required"]) == {"loc", "msg", "type"}


def test_operations_that_need_a_token_say_so() -> None:
    secured = {(m, p) for m, p, op in operations() if op.get("security")}
    assert ("post", "/v1/ingest") in secured
    assert ("get", "/v1/series/{key}/readings") in secured
    assert ("get", "/healthz") not in secured
    assert ("get", "/v1/alerts/{alert_id}/link") not in secured  # the signature is the key
    scheme = DOC["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
