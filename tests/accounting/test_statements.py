"""Monthly statements: closing by both parties, by itself after the contract's days, the
byte-identical documents both parties and the facilitator fetch, revisions with a reason,
and the access log. The clock starts on 2 February 2026, after January's end."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from heatlink.testing import FakeClock
from tests.accounting.support import (
    EXCHANGE,
    FACILITATOR,
    HM1,
    HM2,
    RECIPIENT,
    SUPPLIER,
    THIRD,
    Accounting,
    accounting_service,
    meter,
    register,
    utc,
)

pytestmark = pytest.mark.timeout(300)
URL = f"/v1/exchanges/{EXCHANGE}/statements"


@pytest.fixture(scope="module")
async def acc(postgres_url: str) -> AsyncIterator[Accounting]:
    async with accounting_service(postgres_url, FakeClock(utc(2026, 1, 20))) as handle:
        day = utc(2026, 1, 12)
        await handle.send(meter(HM1, day, day + timedelta(hours=6))
                          + meter(HM2, day, day + timedelta(hours=6))
                          + register(day, day + timedelta(hours=6), 7e6))
        handle.clock.set(utc(2026, 2, 2))
        yield handle


async def _fetch(acc: Accounting, org: str, path: str, accept: str) -> tuple[bytes, str]:
    async with acc.client(org) as client:
        r = await client.get(path, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    return r.content, r.headers["content-type"]


async def test_a_month_closes_when_both_parties_ask(acc: Accounting) -> None:
    async with acc.client(SUPPLIER) as client:
        early = await client.post(f"{URL}/2026-02/close")
        first = await client.post(f"{URL}/2026-01/close")
    assert early.status_code == 409
    assert "has not ended" in early.json()["detail"]
    assert first.json()["detail"]["status"] == "open"
    assert first.json()["detail"]["waiting_for"] == [RECIPIENT]
    async with acc.client(FACILITATOR) as client:
        assert (await client.post(f"{URL}/2026-01/close")).status_code == 403
    async with acc.client(RECIPIENT) as client:
        second = await client.post(f"{URL}/2026-01/close")
        again = await client.post(f"{URL}/2026-01/close")
        body = (await client.get(f"{URL}/2026-01")).json()
    assert second.json()["detail"] == {"month": "2026-01", "revision": 1, "status": "closed",
                                       "close_requested_by": sorted([SUPPLIER, RECIPIENT])}
    assert again.status_code == 409
    assert body["status"] == "closed"
    assert body["closed_by"] == sorted([SUPPLIER, RECIPIENT])
    assert body["closed_at"] == "2026-02-02T00:00:00+00:00"


async def test_a_closed_month_is_byte_identical_for_both_parties(acc: Accounting) -> None:
    for accept, media in (("application/json", "application/json"),
                          ("text/csv", "text/csv"), ("application/pdf", "application/pdf")):
        got = [await _fetch(acc, org, f"{URL}/2026-01", accept)
               for org in (SUPPLIER, RECIPIENT, FACILITATOR)]
        assert got[0][1].startswith(media)
        assert got[0][0] == got[1][0] == got[2][0], accept
    body, _ = await _fetch(acc, SUPPLIER, f"{URL}/2026-01", "application/json")
    document = json.loads(body)
    claimed = document.pop("content_sha256")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == claimed
    pdf, _ = await _fetch(acc, SUPPLIER, f"{URL}/2026-01", "application/pdf")
    assert pdf.startswith(b"%PDF-")
    assert claimed[:32].upper().encode() in pdf  # the file id comes from the content
    csv_text, _ = await _fetch(acc, RECIPIENT, f"{URL}/2026-01", "text/csv")
    lines = csv_text.decode().splitlines()
    assert lines[0].startswith("hour,availability,heat_settled_kWh")
    assert len(lines) == 1 + 744 + 1  # header, every hour of January, the total
    # Readings arriving after the close do not change the closed month.
    day = utc(2026, 1, 13)
    await acc.send(meter(HM1, day, day + timedelta(hours=2)) + meter(HM2, day, day + timedelta(
        hours=2)) + register(day, day + timedelta(hours=2), 8e6))
    assert (await _fetch(acc, RECIPIENT, f"{URL}/2026-01", "application/json"))[0] == body


def _pdf_text(pdf: bytes) -> str:
    """The text drawn on the PDF's pages (fpdf2 compresses each page's stream)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    out = []
    for raw in streams:
        try:
            out.append(zlib.decompress(raw).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(out).replace("\\(", "(").replace("\\)", ")")


async def test_a_closed_month_in_norwegian_is_the_same_document_with_its_own_words(
        acc: Accounting) -> None:
    """Accept-Language: nb gives Norwegian column names and PDF texts (decimal comma, Oslo
    times with their offset) made from the closed JSON alone: byte-identical for both
    parties and every fetch; the English bytes and the content hash do not change."""
    path = f"{URL}/2026-01"
    english_csv = (await _fetch(acc, SUPPLIER, path, "text/csv"))[0]
    english_pdf = (await _fetch(acc, SUPPLIER, path, "application/pdf"))[0]
    got: dict[str, list[Any]] = {}
    for org in (SUPPLIER, RECIPIENT, FACILITATOR):
        async with acc.client(org) as client:
            for accept in ("text/csv", "application/pdf"):
                r = await client.get(path, headers={"Accept": accept,
                                                    "Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"})
                assert r.status_code == 200, r.text
                got.setdefault(accept, []).append(r)
            english = await client.get(path, headers={"Accept": "text/csv",
                                                      "Accept-Language": "en-GB"})
            assert english.content == english_csv
    for accept, responses in got.items():
        assert len({r.content for r in responses}) == 1, accept
        assert responses[0].headers["content-language"] == "nb"
        assert "Accept-Language" in responses[0].headers["vary"]
    csv_nb = got["text/csv"][0]
    pdf_nb = got["application/pdf"][0]
    # One content hash: the JSON's; the Norwegian representation has an ETag of its own.
    async with acc.client(SUPPLIER) as client:
        plain = await client.get(path, headers={"Accept": "text/csv"})
    assert csv_nb.headers["x-content-sha256"] == plain.headers["x-content-sha256"]
    assert csv_nb.headers["etag"] == plain.headers["etag"][:-1] + '.nb"'
    lines_nb = csv_nb.content.decode().splitlines()
    lines_en = english_csv.decode().splitlines()
    assert lines_nb[0].startswith("time,tilgjengelighet,heat_avregnet_kWh,heat_usikkerhet_kWh")
    assert lines_nb[1:-1] == lines_en[1:-1]  # the values are the JSON's, in every language
    assert lines_nb[-1].split(",")[1:] == lines_en[-1].split(",")[1:]
    assert lines_nb[-1].startswith("sum,")
    assert pdf_nb.content != english_pdf
    text = _pdf_text(pdf_nb.content)
    assert "Varmeavregning 2026-01" in text
    assert "Revisjon 1, lukket 2026-02-02 01:00:00 +01:00 av" in text
    assert re.search(r"Tilgjengelighet \d+,\d\d %", text)
    assert "time (UTC)" in text
    for english_word in ("Heat accounting statement", "Revision", "Supplier", "Availability",
                         "uncertainty", "page "):
        assert english_word not in text


async def test_a_correction_is_a_new_revision_with_a_reason(acc: Accounting) -> None:
    async with acc.client(RECIPIENT) as client:
        short = await client.post(f"{URL}/2026-01/revisions", json={"reason": ""})
        opened = await client.post(f"{URL}/2026-01/revisions", json={
            "reason": "readings of 13 January arrived after the close"})
        current = (await client.get(f"{URL}/2026-01")).json()
        draft = (await client.get(f"{URL}/2026-01", params={"draft": "true"})).json()
    assert short.status_code == 422
    assert opened.status_code == 201, opened.text
    assert current["revision"] == 1
    assert draft["revision"] == 2
    assert draft["status"] == "open"
    assert draft["revision_reason"] == "readings of 13 January arrived after the close"
    for org in (SUPPLIER, RECIPIENT):
        async with acc.client(org) as client:
            r = await client.post(f"{URL}/2026-01/close")
            assert r.status_code == 200, r.text
    async with acc.client(FACILITATOR) as client:
        revisions = (await client.get(f"{URL}/2026-01/revisions")).json()
        latest = (await client.get(f"{URL}/2026-01")).json()
        first = (await client.get(f"{URL}/2026-01", params={"revision": 1})).json()
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[1]["reason"] == "readings of 13 January arrived after the close"
    assert latest["revision"] == 2
    heat_totals = [next(x["total"] for x in s["resources"] if x["resource"] == "heat")
                   for s in (first, latest)]
    assert heat_totals[1] > heat_totals[0]
    async with acc.client(SUPPLIER) as client:
        audit = (await client.get(f"/v1/exchanges/{EXCHANGE}/accounting-audit")).json()
    actions = [a["action"] for a in reversed(audit)]
    assert actions == ["close_requested", "close_requested", "month_closed", "revision_opened",
                       "close_requested", "close_requested", "month_closed"]


async def test_a_month_closes_by_itself_after_the_contract_days(acc: Accounting) -> None:
    # December 2025 ended on 1 January 00:00 Oslo time; the contract gives five days.
    async with acc.client(SUPPLIER) as client:
        body = (await client.get(f"{URL}/2025-12")).json()
    assert body["status"] == "closed"
    assert body["closed_by"] == ["automatic"]
    assert body["closed_at"] == "2026-01-05T23:00:00+00:00"
    assert body["period"]["hours_in_month"] == 744


async def test_substitution_rules_are_agreed_by_the_other_party(acc: Accounting) -> None:
    rule = {"methods": [{"method": "linear", "max_hours": 6}], "max_substituted_share": 0.1}
    async with acc.client(SUPPLIER) as client:
        proposed = await client.post(f"/v1/exchanges/{EXCHANGE}/substitution-rules",
                                     json={"rule": rule, "reason": "longer interpolation"})
        own = await client.post(f"/v1/exchanges/{EXCHANGE}/substitution-rules/2/agree")
        bad = await client.post(f"/v1/exchanges/{EXCHANGE}/substitution-rules",
                                json={"rule": {"methods": [{"method": "guess"}]}})
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["detail"]["version"] == 2
    assert own.status_code == 409
    assert bad.status_code == 422
    async with acc.client(RECIPIENT) as client:
        agreed = await client.post(f"/v1/exchanges/{EXCHANGE}/substitution-rules/2/agree")
        versions = (await client.get(f"/v1/exchanges/{EXCHANGE}/substitution-rules")).json()
        february = (await client.get(f"{URL}/2026-02")).json()
    assert agreed.status_code == 200
    assert [(v["version"], v["agreed_by_org"]) for v in versions] == [
        (1, "cluster-file"), (2, RECIPIENT)]
    assert february["substitution_rule"]["version"] == 2


async def test_only_the_parties_and_the_granted_facilitator_read_and_every_read_is_logged(
        acc: Accounting) -> None:
    async with acc.client(THIRD) as client:
        assert (await client.get(f"{URL}/2026-01")).status_code == 404
        assert (await client.get(f"{URL}/2026-01/revisions")).status_code == 404
    async with acc.client(FACILITATOR) as client:
        assert (await client.get(f"{URL}/2026-01")).status_code == 200
    async with acc.client(SUPPLIER) as client:
        log = (await client.get("/v1/access-log")).json()
    doors = {(e["reader_org"], e["series"], e["door"]) for e in log}
    assert (FACILITATOR, f"statement:{EXCHANGE}/2026-01", "accounting") in doors
    assert (RECIPIENT, f"statement:{EXCHANGE}/2026-01", "accounting") in doors
    assert not any(e["reader_org"] == THIRD for e in log)
