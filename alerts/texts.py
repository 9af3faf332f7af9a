"""The human texts of alert messages in the receiving organisation's language.

The texts come from ``alerts/messages/<lang>.json``. An English title is the one the alert
was stored with (composed when it was raised, the same words); another language composes
it again from the alert's structured fields, which a message carries unchanged. Numbers
are written for the language (decimal comma in Norwegian), times in Europe/Oslo with their
offset.
"""

from __future__ import annotations

from typing import Any

from alerts.conditions import EXCESS_STATES, LOSS_STATES
from heatlink import catalogue

PACKAGE = "alerts"


def text(lang: str, key: str, **values: Any) -> str:
    return catalogue.message(PACKAGE, lang, key, **values)


def word(lang: str, kind: str, name: str) -> str:
    """A condition, state, event or link by its name; the name itself (as English messages
    have always shown it) when the catalogue has none."""
    found = catalogue.catalogue(PACKAGE, catalogue.language(lang)).get(f"{kind}.{name}")
    return found if found is not None else name


def minutes(lang: str, seconds: float | None) -> str:
    if seconds is None:
        return text(lang, "never")
    if seconds <= 0:
        return text(lang, "now")
    return text(lang, "minutes", n=f"{seconds / 60:.0f}")


def moment(lang: str, at: str) -> str:
    """English keeps the ISO time it has always shown; other languages Europe/Oslo."""
    if lang == catalogue.DEFAULT or not at:
        return at
    try:
        return catalogue.moment(lang, at)
    except ValueError:
        return at


def summary(lang: str, items: tuple[dict[str, Any], ...]) -> str:
    if len(items) == 1:
        return title(lang, items[0]) or text(lang, "summary.default")
    return text(lang, "summary.grouped", n=len(items))


def title(lang: str, item: dict[str, Any]) -> str:
    """The alert's title in ``lang``; ``item`` is a notification (with ``alert``) or an alert."""
    alert = item.get("alert", item)
    stored = str(alert.get("title", ""))
    if catalogue.language(lang) == catalogue.DEFAULT:
        return stored or (str(item["title"]) if "title" in item else "")
    try:
        return _compose(lang, alert) or stored
    except (KeyError, TypeError, ValueError):
        return stored  # an alert of an older shape: its stored words rather than none


def _compose(lang: str, alert: dict[str, Any]) -> str | None:
    detail = alert.get("detail") or {}
    kind, role, condition = alert.get("kind"), alert.get("role"), str(alert.get("condition"))
    if alert.get("state") in ("cleared_unack", "normal") and detail.get("previous_state"):
        # A clearing keeps the title of the condition it ends, as the stored one does.
        condition = str(detail["previous_state"])
    cond = word(lang, "condition", condition).replace("_", " ")
    exchange = (detail.get("exchange") or {}).get("name", alert.get("exchange"))
    if kind == "maintenance":
        out = text(lang, "title.maintenance",
                   exchange=detail.get("announced_exchange_name", exchange),
                   starts=moment(lang, detail["starts_at"]), ends=moment(lang, detail["ends_at"]))
        if detail.get("short_notice"):
            out += text(lang, "title.maintenance_short",
                        notice=catalogue.number(lang, max(float(detail["notice_h"]), 0.0)),
                        contract=catalogue.number(lang, float(detail["contract_notice_h"]), 0))
        return out
    if kind == "restart_ramp":
        affected = detail["affected_asset"]
        out = text(lang, "title.restart", exchanger=detail["exchanger_name"],
                   minutes=max(1, round(float(detail["slowest_ramp_s"]) / 60)),
                   asset=affected["name"], recipient=detail["recipient_name"],
                   rise=catalogue.number(lang, float(detail["max_rise_k_per_h"])))
        when = alert.get("time_to_impact_s")
        if when is not None and condition == "predicted_rising":
            out += text(lang, "title.restart_when", n=max(0, round(float(when) / 60)))
        elif condition == "rising":
            out += text(lang, "title.restart_now")
        return out
    if kind == "intake_closed":
        if role == "supplier":
            return text(lang, "title.intake_supplier", exchange=exchange,
                        series=alert.get("series") or detail.get("series", ""), condition=cond)
        return text(lang, "title.intake_recipient", exchange=exchange,
                    asset=(detail.get("cause") or {}).get("asset", alert.get("asset")))
    if role == "recipient" and "affected_asset" in detail:
        cause = detail["cause"]
        tti = alert.get("time_to_impact_s")
        when = ""
        if tti is not None:
            span = detail.get("time_to_impact_range_s")
            if span and span[0] is not None:
                when = text(lang, "title.when_range", tti=minutes(lang, tti),
                            low=minutes(lang, span[0]), high=minutes(lang, span[1]))
            else:
                when = text(lang, "title.when", tti=minutes(lang, tti))
        key = "title.lost" if condition in LOSS_STATES else (
            "title.too_hot" if condition in EXCESS_STATES else "title.other")
        return text(lang, key, cause=cause.get("name", cause["asset"]),
                    supplier=cause.get("org_name", cause.get("org", "")),
                    asset=detail["affected_asset"]["name"], condition=cond, when=when)
    if role == "supplier" and "cause" in detail:
        out = text(lang, "title.supplier", exchange=exchange, condition=cond,
                   cause=detail["cause"]["asset"])
        if detail.get("slowest_ramp_s") is not None and "exchanger_name" in detail:
            out += text(lang, "title.supplier_ramp", exchanger=detail["exchanger_name"],
                        minutes=max(1, round(float(detail["slowest_ramp_s"]) / 60)))
        return out
    if role == "owner":
        return text(lang, "title.owner", condition=cond, rule=alert.get("rule_id"),
                    asset=detail.get("asset_name") or alert.get("asset") or alert.get("series"))
    return None
