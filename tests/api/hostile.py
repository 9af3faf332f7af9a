"""Hostile inputs by class, and requests that put them into every part of every operation
the OpenAPI document lists: path, query, headers and body.

Each class is a list of raw values: text for a path, query or header; JSON text for a body
field (NaN, a lone surrogate or a number of five thousand digits cannot be written with
``json.dumps``). A request is built from benign values, with one place made hostile.
"""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import quote

from services.app import create_app
from services.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch")
SERIES = "glomfjord/smelter/hx1/secondary/supply_temp"

TEXT: dict[str, list[str]] = {
    "control characters": ["\x00", "a\x00b", "\x1b[2J", "\x7f", "tab\tnew\nline\r"],
    "odd unicode": ["\u202eevil", "\ufeff", "\U0001f525\U0001f525", "e\u0301", "\uffff",
                    "\u0663", "\u00b2", "\uff11"],
    "sizes": ["", " ", "x" * 8000],
    "numbers": ["0", "-0", "-1", "1e308", "-1e308", "5e-324", "NaN", "Infinity", "-Infinity",
                "1" + "0" * 400, "9" * 5000, "0x10", "1_000", "9223372036854775808",
                "-9223372036854775809"],
    "calendar ends": ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                      "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
                      "2026-02-30T00:00:00Z", "2026-01-15T06:00:00", "2026-01-15T06:00:00+23:59",
                      "1e20", "-62135596800"],
}

DEEP_LIST = "[" * 100_000 + "]" * 100_000
JSON_VALUES: dict[str, list[str]] = {
    "control characters": ['"\\u0000"', '"a\\u0000b"', '"\\u001b[2J"'],
    "odd unicode": ['"\\ud800"', '"\\udfff\\ud800"', '"\\u202e"', '"\\uffff"', '"\\u0663"'],
    "sizes": ['"' + "x" * 300_000 + '"', "[" + ",".join(["1"] * 50_000) + "]", '""'],
    "numbers": ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "9" * 5000,
                "5e-324", "-0", "9223372036854775808", "1.5"],
    "nesting": [DEEP_LIST, '{"a":' * 5000 + "1" + "}" * 5000, "[" * 40 + "1" + "]" * 40],
    "types": ["null", "true", "{}", "[]", "0"],
    "calendar ends": ['"0001-01-01T00:00:00+01:00"', '"9999-12-31T23:59:59-01:00"',
                      '"0001-01-01T00:00:00Z"'],
}

WHOLE_BODIES: dict[str, bytes] = {
    "not JSON": b"{", "not UTF-8": b'{"a": "\xff\xfe"}', "empty": b"", "NaN": b"NaN",
    "deep nesting": DEEP_LIST.encode(), "digits": b"1" + b"0" * 5000, "a list": b"[]",
    "a string": b'"x"', "trailing garbage": b'{"a": 1} x', "lone surrogate": b'"\\ud800"',
}

HEADERS: dict[str, dict[str, bytes | None]] = {
    "no token": {"authorization": None},
    "basic auth": {"authorization": b"Basic Zm9vOmJhcg=="},
    "empty bearer": {"authorization": b"Bearer"},
    "long token": {"authorization": b"Bearer " + b"x" * 8000},
    "latin-1 token": {"authorization": b"Bearer \xe6\xf8\xe5"},
    "utf-8 token": {"authorization": "Bearer \u0663".encode()},
    "odd last-event-id": {"last-event-id": "x:\u00b2".encode("latin-1")},
    "utf-8 last-event-id": {"last-event-id": "x:\u0663".encode()},
    "odd accept": {"accept": b"application/\xff; q=NaN"},
}

CONTENT_TYPES = [b"text/plain", b"application/json; charset=latin-1", b"application/xml",
                 b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded",
                 b"application/json; \xff=\xfe", b"*/*"]

# Benign values by parameter or body field name; others follow the schema.
BENIGN: dict[str, Any] = {
    "key": SERIES, "series": SERIES, "rule_id": "tank1-band",
    "point": "glomfjord/smoltfarm/tank1/temp_setpoint", "target": 12.0,
    "exchange": "glomfjord-smolt", "starts_at": "2026-06-01T06:00:00Z",
    "ends_at": "2026-06-01T18:00:00Z",
    "since": "2026-01-15T00:00:00Z", "until": "2026-01-16T00:00:00Z",
    "start": "2026-01-15T00:00:00Z", "end": "2026-01-16T00:00:00Z",
    "action": "ack", "org": "fjordsmolt", "expires": 1, "sig": "0" * 64,
}


@cache
def _document() -> dict[str, Any]:
    settings = Settings(database_url="postgresql://127.0.0.1:1/unused")
    return create_app(settings).openapi()


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, built without a database."""
    return copy.deepcopy(_document())


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return list(self.spec.get("parameters", []))

    @property
    def body_schema(self) -> dict[str, Any] | None:
        body = self.spec.get("requestBody")
        if body is None:
            return None
        return dict(body["content"]["application/json"]["schema"])

    def documented(self, status: int) -> dict[str, Any]:
        return dict(self.spec["responses"].get(str(status), {}).get("content", {}))


def operations() -> list[Operation]:
    doc = _document()
    return [Operation(method, path, item[method]) for path, item in doc["paths"].items()
            for method in METHODS if method in item]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = _document()["components"]["schemas"][name]
    return schema


def sample(schema: dict[str, Any]) -> Any:
    """A plausible value of ``schema``: its example, else one built from its type."""
    schema = _resolve(schema)
    if "examples" in schema:
        return copy.deepcopy(schema["examples"][0])
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(s).get("type") != "null"]
        return sample(options[0]) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: sample(prop) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {}))]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 1.0)) or 1.0
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2026-01-15T06:00:00Z"
    return "x"


def benign_parameter(parameter: dict[str, Any]) -> Any:
    value = BENIGN.get(parameter["name"])
    return value if value is not None else sample(parameter.get("schema", {}))


def body_fields(schema: dict[str, Any]) -> Iterator[tuple[str | int, ...]]:
    """Paths of the fields worth poisoning: top-level ones and those of the first item of
    a list of objects (the readings of a batch)."""
    schema = _resolve(schema)
    for name, prop in schema.get("properties", {}).items():
        yield (name,)
        items = _resolve(prop).get("items")
        if items is not None:
            for inner in _resolve(items).get("properties", {}):
                yield (name, 0, inner)


def benign_body(schema: dict[str, Any]) -> Any:
    body = sample(schema)
    if isinstance(body, dict):
        body.update({k: BENIGN[k] for k in body.keys() & BENIGN.keys()})
        if "batch_id" in body:
            body["batch_id"] = uuid.uuid4().hex  # a repeated batch id is answered from memory
    return body


def poisoned_body(schema: dict[str, Any], where: tuple[str | int, ...], raw: str) -> bytes:
    """The benign body with the field at ``where`` replaced by the JSON text ``raw``."""
    body = benign_body(schema)
    marker = f"@@{uuid.uuid4().hex}@@"
    node = body
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = marker
    return json.dumps(body).replace(json.dumps(marker), raw).encode()


@cache
def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * 50_000_000, compresslevel=9)


def gzip_cases(benign: bytes) -> dict[str, tuple[bytes, bytes]]:
    """Body and Content-Encoding of each malformed or hostile compressed body."""
    packed = gzip.compress(benign)
    return {"gzip bomb": (gzip_bomb(), b"gzip"), "truncated gzip": (packed[:-6], b"gzip"),
            "gzip then garbage": (packed + b"garbage", b"gzip"),
            "not gzip": (benign, b"gzip"), "unknown encoding": (benign, b"br, \xff")}


def url(operation: Operation, path_values: dict[str, Any]) -> str:
    path = operation.path
    for name, value in path_values.items():
        # Path parameters such as a series key span slashes (``{key:path}``).
        safe = "/" if name == "key" and value == SERIES else ""
        path = path.replace("{" + name + "}", quote(str(value), safe=safe))
    return path
