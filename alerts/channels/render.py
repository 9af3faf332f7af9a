"""What a message says, as JSON, plain text and HTML."""

from __future__ import annotations

import html
from typing import Any

from alerts.model import Message


def as_json(message: Message) -> dict[str, Any]:
    return {"idempotency_key": message.key, "org": message.org, "contact": message.contact,
            "count": len(message.items), "summary": message.summary,
            "notifications": list(message.items)}


def _lines(item: dict[str, Any]) -> list[str]:
    alert = item.get("alert", {})
    detail = alert.get("detail", {})
    lines = [f"[{str(alert.get('severity', '')).upper()}] {alert.get('title', '')}",
             f"Event: {item.get('event', '')} at {item.get('at', '')}; "
             f"state {alert.get('state', '')}"]
    cause = detail.get("cause")
    if cause:
        lines.append(f"Upstream cause: {cause.get('name', cause.get('asset'))} "
                     f"({cause.get('org_name', cause.get('org', ''))})")
    affected = detail.get("affected_asset")
    if affected:
        lines.append(f"Your affected asset: {affected.get('name', affected.get('asset'))}")
    tti = alert.get("time_to_impact_s")
    if tti is not None:
        span = detail.get("time_to_impact_range_s")
        if span and span[0] is not None:
            upper = "never" if span[1] is None else f"{float(span[1]) / 60:.0f} min"
            lines.append(f"Predicted time to your limit: {float(tti) / 60:.0f} min "
                         f"({float(span[0]) / 60:.0f} min to {upper})")
        else:
            lines.append(f"Predicted time to your limit: {float(tti) / 60:.0f} min")
    symptom = item.get("symptom")
    if symptom:
        lines.append(f"Now also: {symptom.get('title', '')}")
        if symptom.get("time_to_impact_s") is not None:
            lines.append(f"Predicted time to that limit: "
                         f"{float(symptom['time_to_impact_s']) / 60:.0f} min")
    for still in item.get("still_active", []):
        lines.append(f"Still active: {still.get('title', '')}")
    for step in detail.get("contingency", []):
        lines.append(f"  - {step}")
    return lines


def as_text(message: Message) -> str:
    parts = []
    if len(message.items) > 1:
        parts.append(f"{len(message.items)} notifications were grouped into this message.\n")
    for item in message.items:
        parts.append("\n".join(_lines(item)))
        links = item.get("links") or {}
        for action, url in links.items():
            parts.append(f"{action}: {url}")
        parts.append("")
    return "\n".join(parts)


def as_html(message: Message) -> str:
    blocks = []
    for item in message.items:
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in _lines(item)[1:])
        alert = item.get("alert", {})
        links = " ".join(f'<a href="{html.escape(url)}">{html.escape(action)}</a>'
                         for action, url in (item.get("links") or {}).items())
        blocks.append(f"<h2>{html.escape(str(alert.get('title', '')))}</h2><ul>{lines}</ul>"
                      f"<p>{links}</p>")
    return f"<html><body>{''.join(blocks)}</body></html>"
