"""The statement as a PDF (fpdf2), the same bytes every time for the same document.

A PDF carries a creation date and a file identifier; both are taken from the statement
(its closing time, or the month's start while open, and its content hash), never from the
clock, so both parties download byte-identical files. Core fonts only (Latin-1): no font
file of the machine enters the document. Its texts come from ``messages/<lang>.json``; in
Norwegian the numbers have a decimal comma and the times are Europe/Oslo's with their
offset (the hourly table stays in UTC, as its heading says).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fpdf import FPDF

from heatlink import catalogue
from services.accounting.statement import Statement

PACKAGE = "services.accounting"


def _t(lang: str, key: str, **values: Any) -> str:
    return catalogue.message(PACKAGE, lang, f"pdf.{key}", **values)


class _StatementPdf(FPDF):
    def __init__(self, body: Statement, lang: str) -> None:
        super().__init__(orientation="landscape", unit="mm", format="A4")
        self._lang = lang
        self._hash = body["content_sha256"]
        self._title = _t(lang, "title", month=body["month"], exchange=body["exchange"]["name"])

    def file_id(self) -> str:
        half = self._hash[:32].upper()
        return f"<{half}><{half}>"

    def header(self) -> None:
        self.set_font("Helvetica", "B", 10)
        self.cell(0, 6, _latin1(self._title), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 7)
        self.cell(0, 4, _latin1(_t(self._lang, "hash", hash=self._hash)), new_x="LMARGIN",
                  new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", "", 7)
        self.cell(0, 5, _latin1(_t(self._lang, "page", n=self.page_no())), align="C")


def _latin1(text: str) -> str:
    # Babel's Norwegian groups thousands with a narrow no-break space, outside Latin-1.
    text = text.replace("\u202f", " ").replace("\u00a0", " ")
    return text.replace("Δ", "d").replace("Θ", "T").encode("latin-1", "replace").decode(
        "latin-1")


def _numbers(lang: str) -> Callable[..., str]:
    def num(value: Any, digits: int = 1) -> str:
        if value is None:
            return ""
        if lang == catalogue.DEFAULT:
            return f"{value:,.{digits}f}"  # as English statements have always shown them
        return catalogue.number(lang, float(value), digits)
    return num


def _when(lang: str, at: str | None) -> str:
    if not at or lang == catalogue.DEFAULT:
        return at or ""
    return catalogue.moment(lang, at)


def _table(pdf: FPDF, rows: list[list[str]], widths: tuple[int, ...]) -> None:
    """A fixed-width table, one line of Courier per row and the heading repeated on each
    page: a cell per value (or fpdf2's table()) takes seconds for a month of hours."""
    line_h = 3.4
    texts = [[_latin1(v)[:60] for v in row] for row in rows]
    chars = [max(len(row[i]) for row in texts if i < len(row)) for i in range(len(widths))]

    def line(row: list[str]) -> str:
        return "  ".join(v.rjust(n) for v, n in zip(row, chars, strict=False))

    def heading() -> None:
        pdf.set_font("Courier", "B", 7)
        pdf.cell(0, line_h, line(texts[0]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Courier", "", 7)

    heading()
    for row in texts[1:]:
        if pdf.will_page_break(line_h):
            pdf.add_page()
            heading()
        pdf.cell(0, line_h, line(row), new_x="LMARGIN", new_y="NEXT")


def render_pdf(body: Statement, lang: str = catalogue.DEFAULT) -> bytes:
    def t(key: str, **values: Any) -> str:
        return _t(lang, key, **values)

    _num = _numbers(lang)
    pdf = _StatementPdf(body, lang)
    stamp = body["closed_at"] or body["period"]["start"]
    pdf.set_creation_date(datetime.fromisoformat(stamp))
    pdf.set_producer("heatlink")
    pdf.set_title(t("revision_title", exchange=body["exchange"]["id"], month=body["month"],
                    revision=body["revision"]))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "", 9)
    e = body["exchange"]
    status = (t("closed", at=_when(lang, body["closed_at"]), by=", ".join(body["closed_by"]))
              if body["status"] == "closed" else t("open"))
    lines = [t("parties", supplier=e["supplier"], recipient=e["recipient"],
               start=_when(lang, body["period"]["start"]),
               end=_when(lang, body["period"]["end"]), zone=body["timezone"]),
             t("revision", revision=body["revision"], status=status)]
    if body["revision_reason"]:
        lines.append(t("reason", reason=body["revision_reason"]))
    rule = body["substitution_rule"]
    lines.append(t("rule", version=rule["version"], methods=", ".join(
        m["method"] + (t("up_to", h=m["max_hours"]) if m.get("max_hours") else "")
        for m in (rule["rule"] or {}).get("methods", [])))
                 if rule["rule"] else t("no_rule"))
    a = body["availability"]
    lines.append(t("availability", share=_num((a["share"] or 0) * 100, 2),
                   available=a["available"], disrupted=a["disrupted"],
                   maintenance=a["maintenance"], no_data=a["no_data"]))
    for line in lines:
        pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _table(pdf, [[t("resource"), t("total"), t("uncertainty"), t("contracted"), t("agreed_h"),
                  t("disputed_h"), t("substituted_h"), t("missing_h")]]
           + [[f"{r['resource']} ({r['unit']})", _num(r["total"]), _num(r["uncertainty"]),
               _num(r["contracted"]), str(r["agreed_hours"]), str(r["disputed_hours"]),
               str(r["substituted_hours"]), str(r["missing_hours"])]
              for r in body["resources"]], (40, 30, 30, 30, 20, 20, 20, 20))
    events = [[t("planned_outage"), _when(lang, w["starts_at"]), _when(lang, w["ends_at"]),
               w["reason"]] for w in body["planned_outages"]]
    events += [[t("alert", kind=x["kind"], severity=x["severity"]),
                _when(lang, x["active_from"]),
                _when(lang, x["active_until"]) or t("still_active"), x["title"]]
               for x in body["alerts"]]
    events += [[t("comment", org=c["org"]), c["hour"], c["resource"], c["text"]]
               for c in body["comments"]]
    if events:
        pdf.ln(3)
        _table(pdf, [[t("event"), t("from"), t("until"), t("what")], *events],
               (40, 50, 50, 130))
    resources = [r["resource"] for r in body["resources"]]
    pdf.ln(3)
    _table(pdf, [[t("day"), *resources]]
           + [[d["date"], *(_num(d.get(res)) for res in resources)] for d in body["days"]],
           (40, *([40] * len(resources))))
    pdf.add_page()
    head = [t("hour_utc"), t("availability_col")]
    for res in resources:
        head += [t("settled", resource=res), "+/-", t("verdict"), t("substituted")]
    rows = [head]
    for h in body["hours"]:
        row = [h["hour"][:16], h["availability"]]
        for res in resources:
            x = h.get(res) or {}
            sub = x.get("substitution")
            row += [_num(x.get("settled")), _num(x.get("uncertainty")), x.get("verdict") or "",
                    f"{sub['method']} v{sub['rule_version']}" if sub else ""]
        rows.append(row)
    _table(pdf, rows, (34, 22, *([26, 18, 20, 30] * len(resources))))
    return bytes(pdf.output())
