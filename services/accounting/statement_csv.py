"""The statement's hourly table as CSV: one row per hour, one column group per resource,
then a row of the month's totals. Made from the JSON document and the language alone, so
it is the same bytes for everyone who fetches the same revision in the same language. Only
the column names are the language's (``messages/<lang>.json``); the values stay as the
JSON has them (a point for decimals), for the programs that read them."""

from __future__ import annotations

import csv
import io
from typing import Any

from heatlink import catalogue
from services.accounting.statement import Statement


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_csv(body: Statement, lang: str = catalogue.DEFAULT) -> str:
    def t(key: str) -> str:
        return catalogue.message("services.accounting", lang, f"csv.{key}")

    resources = [r["resource"] for r in body["resources"]]
    meters = {r["resource"]: [p for p in (r["billing_point"], r["check_point"]) if p]
              for r in body["resources"]}
    header = [t("hour"), t("availability")]
    for res in resources:
        unit = next(r["unit"] for r in body["resources"] if r["resource"] == res)
        header += [f"{res}_{t('settled')}_{unit}", f"{res}_{t('uncertainty')}_{unit}",
                   f"{res}_{t('verdict')}", f"{res}_{t('substitution')}",
                   f"{res}_{t('rule_version')}"]
        for m in meters[res]:
            header += [f"{res}_{m}_{unit}", f"{res}_{m}_{t('error_pct')}",
                       f"{res}_{m}_{t('flags')}"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for hour in body["hours"]:
        row = [hour["hour"], hour["availability"]]
        for res in resources:
            entry = hour.get(res) or {}
            sub = entry.get("substitution") or {}
            row += [_fmt(entry.get("settled")), _fmt(entry.get("uncertainty")),
                    _fmt(entry.get("verdict")), _fmt(sub.get("method")),
                    _fmt(sub.get("rule_version"))]
            for m in meters[res]:
                meter = (entry.get("meters") or {}).get(m) or {}
                row += [_fmt(meter.get("value")), _fmt(meter.get("error_pct")),
                        ";".join(meter.get("flags") or [])]
        writer.writerow(row)
    total = [t("total"), ""]
    for res in resources:
        summary = next(r for r in body["resources"] if r["resource"] == res)
        total += [_fmt(summary["total"]), _fmt(summary["uncertainty"]), "", "", ""]
        total += [""] * (3 * len(meters[res]))
    writer.writerow(total)
    return out.getvalue()
