"""Issue 15, item 6: alert messages in the receiving organisation's language. The farm's
cluster entry says ``language: nb``: its e-mail (subject, text, HTML, link texts) and its
webhook's ``summary`` are Norwegian, with the times in Europe/Oslo with their offset and the
numbers with a decimal comma; the JSON keeps its keys and ids. The smelter, in English,
gets the English words it always got. Real receivers: an SMTP sink and an HTTP server."""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from alerts import maintenance
from alerts.channels.render import as_html, as_text
from alerts.runtime import AlertsRuntime
from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.findings import Finding
from heatlink.testing import FakeClock
from services.runtimes import runtimes_of
from services.settings import Settings
from tests.alerts.conftest import index_for
from tests.alerts.support import (
    EXAMPLE_CLUSTER,
    T0,
    TANK_TEMP,
    WebhookReceiver,
    _Arrivals,
    alert_service,
    finding,
    mail_parts,
    settled,
    smtp_server,
    trip,
    webhook_receiver,
    write_cluster,
)
from tests.support.servers import with_database
from tests.support.service import running_app

SUPPLY = "glomfjord/smelter/hx1/secondary/supply_temp"
VALVE = "glomfjord/smoltfarm/tank1/mixing_valve"
CATALOGUES = Path(__file__).parents[2] / "alerts" / "messages"


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-zÆØÅæøå]{3,}", text)}


def english_only_words() -> set[str]:
    """Words of the English catalogue (placeholders left out) the Norwegian one lacks."""
    def words_of(lang: str) -> set[str]:
        texts = json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
        return _words(" ".join(re.sub(r"\{[a-z_]+\}", " ", t) for t in texts.values()))
    return words_of("en") - words_of("nb")


def without_names(text: str, cluster: dict[str, Any]) -> str:
    """The text less what the companies named themselves in the cluster file (names of
    organisations, assets and exchanges, contingency steps): theirs, not the catalogue's;
    and less the links' addresses."""
    names = [o["name"] for o in cluster["organisations"]]
    names += [a["name"] for a in cluster["assets"]]
    for e in cluster["exchanges"]:
        names += [e["name"], *e.get("contingency", [])]
    text = html.unescape(text)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return re.sub(r"https?://[^\s\"<]+", " ", text)  # and addresses, not words


async def _trip(postgres_url: str, folder: Path
                ) -> tuple[WebhookReceiver, _Arrivals, dict[str, Any], str]:
    name = f"heatlink_lang_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(postgres_url, name)
    clock = FakeClock(T0)
    try:
        async with webhook_receiver() as hook, smtp_server() as (smtp_url, mails):
            path = write_cluster(folder, [
                {"org": "fjordsmolt", "contact": "vakt", "channel": "webhook",
                 "address": hook.url("/farm")},
                {"org": "fjordsmolt", "contact": "vakt", "channel": "email",
                 "address": "vakt@fjordsmolt.example"},
                {"org": "glomfjord-smelter", "contact": "control room", "channel": "webhook",
                 "address": hook.url("/smelter")},
                {"org": "glomfjord-smelter", "contact": "control room", "channel": "email",
                 "address": "ops@smelter.example"},
            ], alerting={"group_window_s": 0})
            cluster = yaml.safe_load(path.read_text())
            for org in cluster["organisations"]:
                if org["id"] == "fjordsmolt":
                    org["language"] = "nb"
            path.write_text(yaml.safe_dump(cluster))
            with pytest.MonkeyPatch.context() as env:
                env.setenv("HEATLINK_ALERTS_SMTP_URL", smtp_url)
                env.setenv("HEATLINK_ALERTS_PUBLIC_URL", "http://heatlink.example")
                async with running_app(Settings(database_url=url, cluster_file=path),
                                       clock=clock) as app:
                    pool = runtimes_of(app.app).pool
                    await pool.execute(  # the tank at 12 °C when the furnace trips
                        """INSERT INTO readings (series_id, ts, value)
                           SELECT id, $2, 12.0 FROM series WHERE key = $1""",
                        TANK_TEMP, T0 - timedelta(seconds=10))
                    alerts: AlertsRuntime = runtimes_of(app.app).alerts
                    await alerts.service.findings([trip()])
                    await hook.wait("/farm")
                    await hook.wait("/smelter")
                    await mails.wait_for(lambda items: len(items) >= 2)
                    await settled(pool, clock.now())
                    # The e-mail's link opens a page in the farm's language.
                    [farm] = hook.at("/farm")
                    link = farm.json["notifications"][0]["links"]["acknowledge"]
                    async with httpx.AsyncClient(base_url=app.url) as anonymous:
                        page = await anonymous.get(link.replace("http://heatlink.example", ""))
                    assert page.status_code == 200
            return hook, mails, cluster, page.text
    finally:
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_norwegian_farm_is_told_in_norwegian_the_smelter_in_english(
        postgres_url: str, tmp_path: Path) -> None:
    hook, mails, cluster, link_page = await _trip(postgres_url, tmp_path)
    english = english_only_words()
    by_address = {m["To"]: m for m in mails.items}

    # The farm's e-mail: Norwegian subject, text, HTML and link texts.
    farm_mail = by_address["vakt@fjordsmolt.example"]
    subject = str(farm_mail["Subject"])
    assert subject.startswith("Varmeleveransen er tapt oppstrøms ved Plate exchanger HX-1")
    assert "grensen nås om 19 min" in subject
    text, page = mail_parts(farm_mail)
    assert "Årsak oppstrøms: Plate exchanger HX-1" in text
    assert "Beregnet tid til grensen din: 19 min" in text
    assert "Grensen din: under 10,0 °C" in text  # the decimal comma
    # 06:00 UTC in January is 07:00 in Oslo, winter time (+01:00).
    assert "Hendelse: utløst 2026-01-15 07:00:00 +01:00; tilstand aktiv, ikke kvittert" in text
    assert "kvitter: http://heatlink.example/" in text
    assert ">skrinlegg i 1 t</a>" in page
    assert '<html lang="nb">' in page
    for part in (subject, text, page):
        left = _words(without_names(part, cluster)) & english
        assert not left, f"English left in the Norwegian message: {sorted(left)}"

    assert '<html lang="nb">' in link_page
    assert "<h1>Kvitter?</h1>" in link_page
    assert "Den er nå <strong>aktiv, ikke kvittert</strong>." in link_page
    assert not _words(without_names(link_page, cluster)) & english

    # The farm's webhook: the summary is Norwegian; the structure stays as it was.
    [farm] = hook.at("/farm")
    assert farm.json["summary"] == subject
    assert set(farm.json) == {"idempotency_key", "org", "contact", "count", "summary",
                              "notifications"}
    [note] = farm.json["notifications"]
    assert note["event"] == "raised"
    assert set(note["links"]) == {"acknowledge", "shelve for 1 h"}
    assert note["alert"]["condition"] == "disrupted"
    assert note["alert"]["time_to_impact_s"] == pytest.approx(300 + 3800 * 0.22314,
                                                              rel=1e-3)

    # The smelter (English, the default) reads the words it always read.
    smelter_mail = by_address["ops@smelter.example"]
    [smelter] = hook.at("/smelter")
    title = smelter.json["notifications"][0]["alert"]["title"]
    assert title.startswith("Smelter cooling water to Fjordsmolt: disrupted at "
                            "glomfjord/smelter/hx1; the recipient is told; when restarting, "
                            "bring Plate exchanger HX-1 back over at least")
    assert smelter.json["summary"] == title == str(smelter_mail["Subject"])
    text, page = mail_parts(smelter_mail)
    assert f"[ALARM] {title}" in text
    assert "Event: raised at 2026-01-15T06:00:00+00:00; state active_unack" in text
    assert "acknowledge: http://heatlink.example/" in text
    limits = [line for line in text.splitlines() if "limit" in line.lower()]
    assert limits == []  # the supplier's message names no limit of the farm
    assert '<html lang="en">' in page


def test_numbers_and_times_are_written_for_the_language() -> None:
    """The decimal comma, and the offset that tells summer time from winter time."""
    from heatlink import catalogue

    assert catalogue.number("nb", 10.0) == "10,0"
    assert catalogue.number("en", 10.0) == "10.0"
    assert catalogue.moment("nb", "2026-03-29T00:30:00+00:00") == "2026-03-29 01:30:00 +01:00"
    assert catalogue.moment("nb", "2026-03-29T01:30:00+00:00") == "2026-03-29 03:30:00 +02:00"


@pytest.mark.parametrize(("header", "lang"), [
    ("nb-NO,nb;q=0.9,en;q=0.5", "nb"), ("NB", "nb"), ("no", "nb"), ("nn-NO", "nb"),
    ("en;q=0.1, nb;q=0.9", "nb"), ("nb-NO;q=0,en", "en"), ("de,fr", "en"), ("*", "en"),
    (";q=abc", "en"), ("nb;q=nan", "en"), ("x" * 10_000, "en"), ("", "en")])
def test_accept_language_chooses_one_of_ours_whatever_it_says(header: str, lang: str) -> None:
    """A statement's language (and its Content-Language and ETag) is always en or nb."""
    from heatlink import catalogue

    assert catalogue.negotiate(header) == lang


async def test_a_whole_norwegian_episode_and_a_short_notice_outage_leave_no_english(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    """Every company in Norwegian: the trip, the restart's escalation and ramp advice, the
    recovery summary naming what is still active, and a planned outage at short notice;
    every message as the e-mail and webhook write it (the channels' own renderer)."""
    path = write_cluster(tmp_path, [
        {"org": org["id"], "contact": "vakt", "channel": "webhook", "address": org["id"]}
        for org in yaml.safe_load(EXAMPLE_CLUSTER.read_text())["organisations"]],
        alerting={"group_window_s": 0})
    cluster = yaml.safe_load(path.read_text())
    for org in cluster["organisations"]:
        org["language"] = "nb"
    path.write_text(yaml.safe_dump(cluster))
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, fake_clock)
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings(), languages={o.id: o.language
                                                        for o in index.cluster.organisations})

    async def found(*items: Finding) -> None:
        await service.findings([replace(f, ts=fake_clock.now(), since_ts=fake_clock.now())
                                for f in items])
        while await worker.run_due():
            pass

    async def latest(values: dict[str, float]) -> None:
        for key, value in values.items():
            await pool.execute("""INSERT INTO readings (series_id, ts, value)
                                  SELECT id, $2, $3 FROM series WHERE key = $1""",
                               key, fake_clock.now() - timedelta(seconds=5), value)

    await latest({TANK_TEMP: 12.0})
    hx1 = trip()
    band = finding("tank1-band", TANK_TEMP, "low", kind="band", owner="fjordsmolt", value=9.8)
    await found(hx1)
    fake_clock.advance(900)
    await found(band)
    fake_clock.advance(7200)
    await latest({TANK_TEMP: 7.3, SUPPLY: 4.0, VALVE: 100.0})
    rising = replace(finding("tank1-ramp-alarm", TANK_TEMP, "predicted_rising", kind="ramp",
                             owner="fjordsmolt", value=7.3), predicted_time_to_limit_s=900.0)
    await found(rising)
    fake_clock.advance(1200)
    await found(replace(hx1, state="ok", previous_state="disrupted"))
    starts = fake_clock.now() + timedelta(hours=30)  # the contract asks 168 h
    done = await maintenance.announce(
        service, exchange_id="mo-district-heat", org="mo-ferrosilicon",
        actor="mo-ferrosilicon:ops", starts_at=starts, ends_at=starts + timedelta(hours=8),
        reason="")
    assert isinstance(done, maintenance.Announced)
    assert done.short_notice
    while await worker.run_due():
        pass

    events = [(m.org, i["event"]) for m in channel.sent for i in m.items]
    assert ("fjordsmolt", "symptom_escalated") in events
    assert ("fjordsmolt", "cleared") in events
    assert ("mo-ferrosilicon", "raised") in events
    english = english_only_words()
    for message in channel.sent:
        for part in (message.summary, as_text(message), as_html(message)):
            left = _words(without_names(part, cluster)) & english
            assert not left, f"English left for {message.org}: {sorted(left)} in {part!r}"
    texts = "\n".join(as_text(m) for m in channel.sent)
    assert "Nå også: " in texts
    assert "Fortsatt aktiv: " in texts
    # The farm's 2 K/h, with the decimal comma, in the smelter's ramp advice.
    assert "tåler høyst 2,0 K/t oppvarming" in texts
    # The short notice: 30 h where the contract asks 168 h; Oslo time, winter offset.
    assert "(varslet 30,0 t i forveien; kontrakten krever 168 t)" in texts
    assert re.search(r"Planlagt stans av [^:]+: 2026-01-1\d \d\d:\d\d:\d\d \+01:00 til ", texts)
