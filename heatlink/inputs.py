"""Types for values that come from outside (request bodies, query strings, files): text that
PostgreSQL can store, times that survive conversion to UTC, numbers that are finite.

Each type refuses a bad value with a message that says what is wrong; the caller (FastAPI,
the cluster-file loader) adds which field it was. The plain functions serve code that
checks values by hand, such as the ingest hot path.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

# C0 controls but tab, line feed and carriage return, and DEL. NUL is the one PostgreSQL
# cannot store at all; the others have no business in a name or a note either.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")
# For the OpenAPI document only: the checks themselves are the functions below.
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"
NAME_PATTERN = r"^[^\u0000-\u001f\u007f]*$"

# The shape of RFC 3339; the datetime parser checks the rest. Without it pydantic would also
# take a number of seconds since 1970, which the API does not promise.
_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
TIME_RANGE = "between 1900-01-01 and 3000-01-01 (UTC)"

MAX_JSON_DEPTH = 32
JSON_INT_LIMIT = 2**63  # what a PostgreSQL bigint holds


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    bad = (_CONTROL_IN_TEXT if multiline else _CONTROL_IN_NAME).search(value)
    if bad is not None:
        return (f"must not contain control characters; found U+{ord(bad.group()):04X} "
                f"at position {bad.start()}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"must be valid Unicode; found a lone surrogate U+{ord(value[exc.start]):04X} "
                f"at position {exc.start}")
    return None


def printable(value: str, limit: int = 200) -> str:
    """``value`` cut to ``limit`` characters with controls and lone surrogates escaped, for
    messages and logs that echo what a client sent."""
    cut = value[:limit]
    if text_problem(cut, multiline=False) is None:
        return cut + ("…" if len(value) > limit else "")
    escaped = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    escaped = _CONTROL_IN_NAME.sub(lambda m: f"\\x{ord(m.group()):02x}", escaped)
    return escaped + ("…" if len(value) > limit else "")


def _free_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_invalid", "{problem}", {"problem": problem})
    return value


def _name(value: str) -> str:
    problem = text_problem(value, multiline=False)
    if problem is not None:
        raise PydanticCustomError("name_invalid", "{problem}", {"problem": problem})
    return value


FreeText = Annotated[str, Field(max_length=2000, json_schema_extra={"pattern": TEXT_PATTERN}),
                     AfterValidator(_free_text)]
"""A note or reason: any Unicode text with line breaks, no other control characters."""

Name = Annotated[str, Field(max_length=500, json_schema_extra={"pattern": NAME_PATTERN}),
                 AfterValidator(_name)]
"""A key, id or name: one line of Unicode text without control characters."""


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str)
                                       and _RFC3339_START.match(value)):
        return value
    raise PydanticCustomError("datetime_format", "must be an RFC 3339 time with an offset, "
                              "e.g. 2026-01-15T06:00:00Z")


def utc_time(value: datetime) -> datetime:
    """``value`` in UTC when it carries an offset and lies in the range the service keeps."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError("timezone_required",
                                  "needs a UTC offset, e.g. 2026-01-15T06:00:00Z")
    try:
        moment: datetime | None = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a day before the calendar starts
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise PydanticCustomError("time_out_of_range", "must lie {range}", {"range": TIME_RANGE})
    return moment


Moment = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(utc_time)]
"""An instant: RFC 3339 with an offset, between 1900 and 3000, returned in UTC."""

Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
"""A finite JSON number: NaN, Infinity, numbers beyond a double's range, and strings or
booleans that pydantic would otherwise convert, are refused."""


def json_problem(value: Any) -> str | None:
    """Why ``value`` (parsed JSON) cannot be stored in a jsonb column, or None: NUL or lone
    surrogates in a string or key, a number that is not finite or beyond a bigint, nesting
    deeper than ``MAX_JSON_DEPTH``. Iterative, so any depth is safe to look at."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nests deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return f"{where or 'the value'} {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -JSON_INT_LIMIT <= item < JSON_INT_LIMIT:
                return f"{where or 'the value'} is beyond the range of a 64-bit integer"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{where or 'the value'} must be a finite number"
        elif isinstance(item, dict):
            for key, inner in item.items():
                problem = text_problem(key) if isinstance(key, str) else "must be text"
                if problem is not None:
                    return f"a key{' of ' + where if where else ''} {problem}"
                name = printable(key, 40)
                stack.append((inner, f"{where}.{name}" if where else name, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{i}]", depth + 1) for i, inner in enumerate(item))
        else:
            return f"{where or 'the value'} is not a JSON value"
    return None


def _json(value: Any) -> Any:
    problem = json_problem(value)
    if problem is not None:
        raise PydanticCustomError("json_invalid", "{problem}", {"problem": problem})
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json)]
"""A JSON object that jsonb can store: text without NUL, finite numbers, bounded nesting."""
