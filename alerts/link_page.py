"""The pages behind the one-click links in e-mails.

Opening a link (GET) only shows what it would do and a button; the button POSTs to the
same address, and only that changes the alert. Mail scanners and link previews follow
links with GET, so a GET must never acknowledge or shelve anything.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from alerts.store import AlertRow

_VERB = {"ack": "Acknowledge", "shelve": "Shelve for an hour"}
_DONE = {"ack": "Acknowledged", "shelve": "Shelved"}
_HEADERS = {"Cache-Control": "no-store"}


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · heatlink</title></head><body>{body}</body></html>",
        status_code=status_code, headers=_HEADERS)


def confirm(alert: AlertRow, action: str) -> HTMLResponse:
    """What the link would do, and the button that does it (a POST to this address)."""
    verb = _VERB[action]
    return _page(verb, (
        f"<h1>{escape(verb)}?</h1>"
        f"<p>Alert {alert.id}: {escape(alert.title)}</p>"
        f"<p>It is now <strong>{escape(alert.state)}</strong>.</p>"
        # No action attribute: the form posts to this very address, signature included.
        f"<form method=\"post\"><button type=\"submit\">{escape(verb)}</button></form>"))


def done(alert: AlertRow, action: str) -> HTMLResponse:
    return _page(_DONE[action], f"<p>{escape(_DONE[action])}: alert {alert.id}, now "
                                f"{escape(alert.state)}.</p>")


def refused(why: str) -> HTMLResponse:
    return _page("Link refused", f"<p>This link cannot be used: {escape(why)}.</p>", 403)


def not_found() -> HTMLResponse:
    return _page("No such alert", "<p>No such alert.</p>", 404)
