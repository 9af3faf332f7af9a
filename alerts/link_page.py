"""The pages behind the one-click links in e-mails, in the organisation's language.

Opening a link (GET) only shows what it would do and a button; the button POSTs to the
same address, and only that changes the alert. Mail scanners and link previews follow
links with GET, so a GET must never acknowledge or shelve anything.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from alerts import texts
from alerts.store import AlertRow
from heatlink import catalogue

_HEADERS = {"Cache-Control": "no-store"}


def _page(lang: str, title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=\"{escape(catalogue.language(lang))}\"><head>"
        "<meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · heatlink</title></head><body>{body}</body></html>",
        status_code=status_code, headers=_HEADERS)


def _state(lang: str, alert: AlertRow) -> str:
    return escape(texts.word(lang, "state", str(alert.state)))


def confirm(alert: AlertRow, action: str, lang: str = catalogue.DEFAULT) -> HTMLResponse:
    """What the link would do, and the button that does it (a POST to this address)."""
    verb = texts.text(lang, f"page.verb.{action}")
    title = texts.title(lang, alert.public())
    return _page(lang, verb, (
        f"<h1>{escape(texts.text(lang, 'page.ask', verb=verb))}</h1>"
        f"<p>{escape(texts.text(lang, 'page.alert', id=alert.id, title=title))}</p>"
        f"<p>{texts.text(lang, 'page.state', state=_state(lang, alert))}</p>"
        # No action attribute: the form posts to this very address, signature included.
        f"<form method=\"post\"><button type=\"submit\">{escape(verb)}</button></form>"))


def done(alert: AlertRow, action: str, lang: str = catalogue.DEFAULT) -> HTMLResponse:
    said = texts.text(lang, f"page.done.{action}")
    return _page(lang, said, "<p>" + texts.text(lang, "page.done", done=escape(said),
                                                 id=alert.id, state=_state(lang, alert))
                 + "</p>")


def refused(why: str, lang: str = catalogue.DEFAULT) -> HTMLResponse:
    return _page(lang, texts.text(lang, "page.refused_title"),
                 f"<p>{texts.text(lang, 'page.refused', why=escape(why))}</p>", 403)


def not_found(lang: str = catalogue.DEFAULT) -> HTMLResponse:
    said = texts.text(lang, "page.not_found")
    return _page(lang, said, f"<p>{escape(said)}.</p>", 404)
