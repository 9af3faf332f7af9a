"""The dashboard's language: Norwegian Bokmål or English, from a remembered choice (the
``heatlink_lang`` cookie the page's switch sets) or else the browser's Accept-Language.

The texts live in message catalogues, ``messages/<lang>.json``, one key per text with
``{name}`` placeholders; the page gets its language's catalogue embedded as JSON data (not
script, so the strict Content-Security-Policy holds) and ``<html lang>`` set to it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from babel import Locale, negotiate_locale

LANGUAGES = ("en", "nb")
DEFAULT = "en"
LANG_COOKIE = "heatlink_lang"
# Norwegian readers whose browser says only "no" or Nynorsk still read Bokmål best of ours.
_ALIASES = {"no": "nb", "nn": "nb"}


def accepted(header: str) -> list[str]:
    """Accept-Language's tags, most wanted first (RFC 9110 §12.5.4), q=0 left out."""
    weighted = []
    for i, part in enumerate(header.split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            weighted.append((-q, i, tag.strip().replace("-", "_")))
    return [tag for _, _, tag in sorted(weighted)]


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return str(cookie)
    wanted = []
    for tag in accepted(accept_language or ""):
        base = tag.split("_")[0].lower()
        wanted += [tag, _ALIASES.get(base, base)]
    found = negotiate_locale(wanted, list(LANGUAGES), sep="_")
    # Babel answers in the caller's case ("NB" for "NB"): ours, or a file name that is not.
    return next((lang for lang in LANGUAGES if found and lang == found.lower()), DEFAULT)


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> dict[str, str]:
    text = (resources.files("services.dashboard") / "messages" / f"{lang}.json").read_text(
        encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


def message(lang: str, key: str, **values: Any) -> str:
    """One text in ``lang`` (English where the catalogue lacks it), filled in."""
    text = catalogue(lang).get(key) or catalogue(DEFAULT)[key]
    return text.format(**values) if values else text


def locale_name(lang: str) -> str:
    """The Babel locale of a language, for numbers and dates."""
    return str(Locale.parse("nb_NO" if lang == "nb" else "en_GB"))
