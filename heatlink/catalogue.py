"""Message catalogues of a package and the language's way of writing numbers and times.

A package keeps its texts in ``messages/<lang>.json``, one key per text with ``{name}``
placeholders; a text a catalogue lacks comes from English. Numbers and times are written
with Babel (decimal comma in Norwegian; times in Europe/Oslo with their offset, as the
dashboard shows them).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel import negotiate_locale
from babel.dates import format_datetime
from babel.numbers import format_decimal

LANGUAGES = ("en", "nb")
DEFAULT = "en"
ZONE = ZoneInfo("Europe/Oslo")


@lru_cache(maxsize=32)
def catalogue(package: str, lang: str) -> dict[str, str]:
    text = (resources.files(package) / "messages" / f"{lang}.json").read_text(encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


def language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def message(package: str, lang: str, key: str, **values: Any) -> str:
    """One text of ``package`` in ``lang`` (English where its catalogue lacks it)."""
    text = catalogue(package, language(lang)).get(key) or catalogue(package, DEFAULT)[key]
    return text.format(**values) if values else text


def locale_name(lang: str) -> str:
    return "nb_NO" if lang == "nb" else "en_GB"


def number(lang: str, value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals: 10.0 in English, 10,0 in Norwegian."""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=locale_name(language(lang)))


def moment(lang: str, at: datetime | str) -> str:
    """A time in Europe/Oslo with its offset (which tells summer from winter time)."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return format_datetime(when, "yyyy-MM-dd HH:mm:ss xxx", tzinfo=ZONE,
                           locale=locale_name(language(lang)))


# Norwegian readers whose browser says only "no" or Nynorsk still read Bokmål best of ours.
_ALIASES = {"no": "nb", "nn": "nb"}


def negotiate(accept_language: str | None) -> str:
    """The language of ours an ``Accept-Language`` header (RFC 9110 §12.5.4) wants most;
    English when it names neither. The dashboard's own choice adds its remembered switch."""
    weighted = []
    for i, part in enumerate((accept_language or "").split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.strip() and q > 0:
            weighted.append((-q, i, tag.strip().replace("-", "_")))
    wanted = []
    for _, _, tag in sorted(weighted):
        base = tag.split("_")[0].lower()
        wanted += [tag, _ALIASES.get(base, base)]
    # Babel matches without regard to case and answers with the tag as it was asked for.
    found = (negotiate_locale(wanted, list(LANGUAGES), sep="_") or DEFAULT).lower()
    return found if found in LANGUAGES else DEFAULT
