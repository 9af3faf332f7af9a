"""Reading a batch body: gzip, then JSON; one reading at a time when the whole cannot be read.

The common body is strict JSON and is read in one call. A body that is not (NaN from
Python's ``json``, a number beyond a double, a lone surrogate, invalid UTF-8, a reading
nested deeper than the parser's limit, a syntax error inside one reading) is split at the
top-level members and at the readings of its ``readings`` array, and each part is read on
its own: a reading that still cannot be read becomes an ``Unreadable`` holding the bytes
it arrived as, which the checks reject and the quarantine keeps. Only a body whose
structure cannot be followed (brackets that do not match, a string that never ends) is
refused as a whole.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

# A JSON string (escapes included), or one structural character. A quote on its own is a
# string that never ends.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:"]', re.DOTALL)
_CLOSES = {ord("}"): ord("{"), ord("]"): ord("[")}
_BIG_INT_DIGITS = 1000


class IngestError(Exception):
    """A body that cannot be read at all; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Unreadable:
    """A reading whose JSON cannot be read, as the bytes it arrived as."""

    raw: bytes
    why: str


@dataclass
class Body:
    """A batch as read: its envelope fields (not yet checked) and its readings."""

    gateway: Any
    batch_id: Any
    readings: Any
    source: bytes
    _spans: list[bytes] | None = field(default=None, repr=False)

    def raw_reading(self, index: int) -> bytes:
        """The bytes reading ``index`` arrived as."""
        if self._spans is None:
            _, spans = split_batch(self.source)
            self._spans = spans or []
        return self._spans[index]


class TypedReading(msgspec.Struct):
    """One reading of the common kind: every field of the type the checks want."""

    series: str
    ts: str
    value: float  # a JSON integer comes as the float the checks would make of it
    quality: str = "good"
    unit: str | None = None


class TypedEnvelope(msgspec.Struct):
    gateway: str
    batch_id: str


class TypedBatch(TypedEnvelope):
    readings: list[TypedReading]


_TYPED = msgspec.json.Decoder(TypedBatch)


def read_typed(body: bytes) -> TypedBatch | None:
    """The body as typed readings, when it is strict JSON and every field has the type
    the common reading has (msgspec checks them while it reads: a third less than orjson
    reading dicts). None for anything else: the caller goes the way of `read_batch`, which
    says what is wrong; nothing is judged here. Names repeated in an object count as in
    `read_batch`, the last one, and names no reading has are ignored as there."""
    try:
        return _TYPED.decode(body)
    except msgspec.DecodeError:  # ValidationError included
        return None


def gunzip(body: bytes, limit: int) -> bytes:
    """The decompressed body, refusing more than ``limit`` bytes of output (a small bomb
    must not exhaust memory), a truncated stream and trailing bytes."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(400, f"the body is not valid gzip: {exc}") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise IngestError(413, f"the decompressed body exceeds the limit of {limit} bytes "
                        "(HEATLINK_MAX_BODY_BYTES); send smaller batches")
    if not decompressor.eof:
        raise IngestError(400, "the body is not valid gzip: the stream ends early")
    if decompressor.unused_data:
        raise IngestError(400, "the body is not valid gzip: bytes follow the end of the stream")
    return out


def read_batch(body: bytes) -> Body:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _read_in_parts(body)
    if not isinstance(parsed, dict):
        raise IngestError(400, "the body must be a JSON object with gateway, batch_id, readings")
    return Body(parsed.get("gateway"), parsed.get("batch_id"), parsed.get("readings"), body)


def _read_in_parts(body: bytes) -> Body:
    members, spans = split_batch(body)
    envelope = {}
    for name in ("gateway", "batch_id"):
        raw = members.get(name)
        value = None if raw is None else read_value(raw)
        if isinstance(value, Unreadable):
            raise IngestError(400, f"'{name}' is not valid JSON: {value.why}")
        envelope[name] = value
    if spans is not None:
        readings: Any = [read_value(span) for span in spans]
    elif "readings" in members:
        readings = read_value(members["readings"])
    else:
        readings = None
    return Body(envelope["gateway"], envelope["batch_id"], readings, body, spans)


def _big_int(digits: str) -> int | float:
    # int() refuses thousands of digits; such a number is infinite as a double anyway.
    return int(digits) if len(digits) < _BIG_INT_DIGITS else float(digits)


def read_value(raw: bytes) -> Any:
    """One value, strict JSON first, then what Python's ``json`` also writes (NaN,
    Infinity); an ``Unreadable`` when neither can read it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_big_int)
    except UnicodeDecodeError as exc:
        return Unreadable(raw, f"it is not UTF-8 (byte {exc.start})")
    except RecursionError:
        return Unreadable(raw, "it nests deeper than the parser allows")
    except ValueError as exc:
        return Unreadable(raw, str(exc)[:200])


class _Splitter:
    """Finds the spans of the top-level members and of the readings of one batch."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.members: dict[str, bytes] = {}
        self.items: list[bytes] | None = None
        self.stack = bytearray()
        self.key: str | None = None
        self.value_start: int | None = None
        self.item_start: int | None = None
        self.separator_end = 0  # end of the last ',' or '{' of the top-level object
        self.end: int | None = None

    def fail(self, what: str, at: int) -> IngestError:
        return IngestError(400, f"the body is not valid JSON: {what} at byte {at}")

    def run(self) -> tuple[dict[str, bytes], list[bytes] | None]:
        for match in _TOKENS.finditer(self.body):
            if self.end is not None:
                raise self.fail("content after the JSON object", match.start())
            token, at = match.group(), match.start()
            if token[0] == ord('"'):
                self.on_string(token, at)
            elif token[0] in b"{[":
                self.on_open(token[0], at, match.end())
            elif token[0] in b"}]":
                self.on_close(token[0], at, match.end())
            elif token == b",":
                self.on_comma(at, match.end())
            elif len(self.stack) == 1:  # ':' of a top-level member
                if self.key is None or self.value_start is not None:
                    raise self.fail("':' without a name before it", at)
                self.value_start = match.end()
        if self.end is None:
            raise self.fail("the body ends before its JSON object does", len(self.body))
        if self.body[self.end:].strip():
            raise self.fail("content after the JSON object", self.end)
        return self.members, self.items

    def on_string(self, token: bytes, at: int) -> None:
        if len(token) == 1:
            raise self.fail("a string that never ends", at)
        if len(self.stack) == 1 and self.value_start is None:
            if self.key is not None or self.body[self.separator_end:at].strip():
                raise self.fail("a name where ',' or ':' belongs", at)
            try:
                self.key = json.loads(token)
            except ValueError:
                raise self.fail("a name that is not a valid string", at) from None
            if self.key == "readings":
                self.items = None  # a repeated name: the last one counts, as in json.loads

    def on_open(self, bracket: int, at: int, after: int) -> None:
        depth = len(self.stack)
        if depth == 0:
            if bracket != ord("{") or self.body[:at].strip():
                raise self.fail("the body must be one JSON object", at)
            self.separator_end = after
        elif (depth == 1 and bracket == ord("[") and self.key == "readings"
              and self.value_start is not None and not self.body[self.value_start:at].strip()):
            self.items, self.item_start = [], after
        self.stack.append(bracket)

    def on_close(self, bracket: int, at: int, after: int) -> None:
        if not self.stack or self.stack[-1] != _CLOSES[bracket]:
            raise self.fail(f"an unmatched '{chr(bracket)}'", at)
        self.stack.pop()
        depth = len(self.stack)
        if depth == 1 and self.item_start is not None:  # the readings array ends
            self.close_item(at, last=True)
            self.item_start = None
        elif depth == 0:
            self.close_member(at)
            self.end = after

    def on_comma(self, at: int, after: int) -> None:
        depth = len(self.stack)
        if depth == 1:
            self.close_member(at)
            self.separator_end = after
        elif depth == 2 and self.item_start is not None:
            self.close_item(at, last=False)
            self.item_start = after

    def close_member(self, at: int) -> None:
        if self.key is not None and self.value_start is not None:
            self.members[self.key] = self.body[self.value_start:at]
        elif self.key is not None or self.body[self.separator_end:at].strip():
            raise self.fail("a member without a value", at)
        self.key = self.value_start = None

    def close_item(self, at: int, *, last: bool) -> None:
        assert self.items is not None
        assert self.item_start is not None
        span = self.body[self.item_start:at]
        if span.strip() or not last or self.items:
            self.items.append(span)  # an empty one between commas is unreadable, as sent


def split_batch(body: bytes) -> tuple[dict[str, bytes], list[bytes] | None]:
    """The raw bytes of each top-level member of ``body`` by name, and of each element of
    its ``readings`` array (None when ``readings`` is not an array). Strings are skipped
    whole, so this never recurses and reads any depth."""
    return _Splitter(body).run()
