"""What a message says, as JSON, plain text and HTML, in the receiver's language.

The JSON keeps its structure in every language: only ``summary`` is a human text."""

from __future__ import annotations

import html
from typing import Any

from alerts import texts
from alerts.model import Message
from heatlink import catalogue


def as_json(message: Message) -> dict[str, Any]:
    return {"idempotency_key": message.key, "org": message.org, "contact": message.contact,
            "count": len(message.items), "summary": message.summary,
            "notifications": list(message.items)}


def _lines(lang: str, item: dict[str, Any]) -> list[str]:
    alert = item.get("alert", {})
    detail = alert.get("detail", {})
    t = texts.text
    severity = str(alert.get("severity", ""))
    lines = [f"[{t(lang, f'severity.{severity}') if severity else ''}] "
             f"{texts.title(lang, item)}",
             t(lang, "line.event", event=texts.word(lang, "event", str(item.get("event", ""))),
               at=texts.moment(lang, str(item.get("at", ""))),
               state=texts.word(lang, "state", str(alert.get("state", ""))))]
    cause = detail.get("cause")
    if cause:
        lines.append(t(lang, "line.cause", name=cause.get("name", cause.get("asset")),
                       org=cause.get("org_name", cause.get("org", ""))))
    affected = detail.get("affected_asset")
    if affected:
        lines.append(t(lang, "line.affected", name=affected.get("name", affected.get("asset"))))
    tti = alert.get("time_to_impact_s")
    if tti is not None:
        span = detail.get("time_to_impact_range_s")
        if span and span[0] is not None:
            lines.append(t(lang, "line.tti_range", tti=texts.minutes(lang, max(float(tti), 1)),
                           low=texts.minutes(lang, max(float(span[0]), 1)),
                           high=texts.minutes(lang, None if span[1] is None
                                              else max(float(span[1]), 1))))
        else:
            lines.append(t(lang, "line.tti", tti=texts.minutes(lang, max(float(tti), 1))))
    limit = detail.get("limit")
    if limit and limit.get("side") in ("below", "above"):
        lines.append(t(lang, "line.limit", side=t(lang, f"limit.{limit['side']}"),
                       value=catalogue.number(lang, float(limit["value_c"]))))
    symptom = item.get("symptom")
    if symptom:
        lines.append(t(lang, "line.symptom", title=texts.title(lang, symptom)))
        if symptom.get("time_to_impact_s") is not None:
            lines.append(t(lang, "line.symptom_tti",
                           tti=texts.minutes(lang, max(float(symptom["time_to_impact_s"]), 1))))
    for still in item.get("still_active", []):
        lines.append(t(lang, "line.still_active", title=texts.title(lang, still)))
    for step in detail.get("contingency", []):
        lines.append(f"  - {step}")
    return lines


def _link(lang: str, action: str) -> str:
    return texts.word(lang, "link", action)


def as_text(message: Message) -> str:
    lang = message.language
    parts = []
    if len(message.items) > 1:
        parts.append(texts.text(lang, "text.grouped", n=len(message.items)) + "\n")
    for item in message.items:
        parts.append("\n".join(_lines(lang, item)))
        links = item.get("links") or {}
        for action, url in links.items():
            parts.append(f"{_link(lang, action)}: {url}")
        parts.append("")
    return "\n".join(parts)


def as_html(message: Message) -> str:
    lang = message.language
    blocks = []
    for item in message.items:
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in _lines(lang, item)[1:])
        links = " ".join(f'<a href="{html.escape(url)}">{html.escape(_link(lang, action))}</a>'
                         for action, url in (item.get("links") or {}).items())
        blocks.append(f"<h2>{html.escape(texts.title(lang, item))}</h2><ul>{lines}</ul>"
                      f"<p>{links}</p>")
    return f'<html lang="{html.escape(lang)}"><body>{"".join(blocks)}</body></html>'
