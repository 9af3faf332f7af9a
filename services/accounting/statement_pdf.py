"""The statement as a PDF (fpdf2), the same bytes every time for the same document.

A PDF carries a creation date and a file identifier; both are taken from the statement
(its closing time, or the month's start while open, and its content hash), never from the
clock, so both parties download byte-identical files. Core fonts only (Latin-1): no font
file of the machine enters the document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fpdf import FPDF

from services.accounting.statement import Statement


class _StatementPdf(FPDF):
    def __init__(self, body: Statement) -> None:
        super().__init__(orientation="landscape", unit="mm", format="A4")
        self._hash = body["content_sha256"]
        self._title = f"Heat accounting statement {body['month']}: {body['exchange']['name']}"

    def file_id(self) -> str:
        half = self._hash[:32].upper()
        return f"<{half}><{half}>"

    def header(self) -> None:
        self.set_font("Helvetica", "B", 10)
        self.cell(0, 6, _latin1(self._title), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 7)
        self.cell(0, 4, f"content SHA-256 {self._hash}", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", "", 7)
        self.cell(0, 5, f"page {self.page_no()}", align="C")


def _latin1(text: str) -> str:
    return text.replace("Δ", "d").replace("Θ", "T").encode("latin-1", "replace").decode(
        "latin-1")


def _num(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


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


def render_pdf(body: Statement) -> bytes:
    pdf = _StatementPdf(body)
    stamp = body["closed_at"] or body["period"]["start"]
    pdf.set_creation_date(datetime.fromisoformat(stamp))
    pdf.set_producer("heatlink")
    pdf.set_title(f"{body['exchange']['id']} {body['month']} revision {body['revision']}")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "", 9)
    e = body["exchange"]
    status = (f"closed {body['closed_at']} by {', '.join(body['closed_by'])}"
              if body["status"] == "closed" else "open (figures may still change)")
    lines = [f"Supplier {e['supplier']}, recipient {e['recipient']}; "
             f"{body['period']['start']} to {body['period']['end']} ({body['timezone']})",
             f"Revision {body['revision']}, {status}"]
    if body["revision_reason"]:
        lines.append(f"Reason for this revision: {body['revision_reason']}")
    rule = body["substitution_rule"]
    lines.append(f"Substitution rule version {rule['version']}: "
                 + ", ".join(m["method"] + (f" up to {m['max_hours']} h" if m.get("max_hours")
                                            else "")
                             for m in (rule["rule"] or {}).get("methods", []))
                 if rule["rule"] else "No substitution rule agreed")
    a = body["availability"]
    lines.append(f"Availability {_num((a['share'] or 0) * 100, 2)} % (available "
                 f"{a['available']} h, disrupted {a['disrupted']} h, maintenance "
                 f"{a['maintenance']} h, no data {a['no_data']} h)")
    for line in lines:
        pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _table(pdf, [["resource", "total", "uncertainty", "contracted", "agreed h", "disputed h",
                  "substituted h", "missing h"]]
           + [[f"{r['resource']} ({r['unit']})", _num(r["total"]), _num(r["uncertainty"]),
               _num(r["contracted"]), str(r["agreed_hours"]), str(r["disputed_hours"]),
               str(r["substituted_hours"]), str(r["missing_hours"])]
              for r in body["resources"]], (40, 30, 30, 30, 20, 20, 20, 20))
    events = [["planned outage", w["starts_at"], w["ends_at"], w["reason"]]
              for w in body["planned_outages"]]
    events += [[f"alert {x['kind']} ({x['severity']})", x["active_from"],
                x["active_until"] or "still active", x["title"]] for x in body["alerts"]]
    events += [["comment " + c["org"], c["hour"], c["resource"], c["text"]]
               for c in body["comments"]]
    if events:
        pdf.ln(3)
        _table(pdf, [["event", "from", "until", "what"], *events], (40, 50, 50, 130))
    resources = [r["resource"] for r in body["resources"]]
    pdf.ln(3)
    _table(pdf, [["day", *resources]]
           + [[d["date"], *(_num(d.get(res)) for res in resources)] for d in body["days"]],
           (40, *([40] * len(resources))))
    pdf.add_page()
    head = ["hour (UTC)", "availability"]
    for res in resources:
        head += [f"{res} settled", "+/-", "verdict", "substituted"]
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
