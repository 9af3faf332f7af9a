"""The OpenAPI document, finished so that tools can use it as it stands.

FastAPI documents what a route declares; this adds what holds for every operation: the
error answers (problem details, ``services.api.problems``) it can give, and the schemas
that a route's hand-written request body keeps under ``$defs``, moved to ``components`` so
that every ``$ref`` resolves. It reads only the document, not FastAPI's route objects.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.api.problems import PROBLEM_MEDIA_TYPE, Problem

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "The body cannot be read (not JSON, not UTF-8, nested too deeply)",
    401: "Missing, unknown, revoked or expired token",
    403: "The token lacks the scope or the organisation this needs",
    413: "The request body exceeds HEATLINK_MAX_BODY_BYTES",
    422: "A parameter or body field is invalid; `errors` names each",
    503: "The service cannot answer now (its database or a part it needs is unavailable); "
         "retry later",
}


def link(path: str, method: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path``, its parameters taken from the
    answer (``$response.body#/id``): clients and fuzzers follow it from one call to the
    next."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(get_openapi(
                title=app.title, version=app.version, summary=app.summary,
                description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    _hoist_defs(doc, schemas)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for item in doc.get("paths", {}).values():
        for method in _METHODS:
            if method in item:
                _document_errors(item[method])
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def _document_errors(operation: dict[str, Any]) -> None:
    codes = {503}
    if operation.get("parameters") or "requestBody" in operation:
        codes.add(422)
    if "requestBody" in operation:
        codes |= {400, 413}
    if operation.get("security"):
        codes |= {401, 403}
    responses = operation.setdefault("responses", {})
    for code in codes:
        responses.setdefault(str(code), {})
    for code, response in responses.items():
        if not code.isdigit() or int(code) < 400:
            continue
        response.setdefault("description", _DESCRIPTIONS.get(int(code), "An error"))
        content = response.get("content")
        if not content or _is_fastapi_validation_error(content):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}


def _is_fastapi_validation_error(content: dict[str, Any]) -> bool:
    schema = content.get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _hoist_defs(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Move every ``$defs`` (pydantic's local definitions, left in schemas that routes
    write by hand) into ``components/schemas`` and point their ``$ref``s there."""
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for name, schema in node.pop("$defs", {}).items():
                if schemas.setdefault(name, schema) != schema:
                    raise ValueError(f"two different schemas are both named {name!r}")
                stack.append(schema)
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
