"""E-mail channel: SMTP with STARTTLS when the server offers it, text and HTML parts.

The stdlib client blocks, so each send runs in a thread; a send opens its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from alerts.channels.render import as_html, as_text
from alerts.model import Delivered, Fail, Message, Outcome, Retry


class SmtpEmailChannel:
    name = "email"

    def __init__(self, smtp_url: str, sender: str, *, user: str | None = None,
                 password: str | None = None, timeout_s: float = 10.0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(smtp_url)
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 25
        self._sender = sender
        self._user = user
        self._password = password
        self._timeout_s = timeout_s
        self._tls = tls_context or ssl.create_default_context()
        self._lock = threading.Lock()
        self._open: set[smtplib.SMTP] = set()
        self._closing = False

    async def send(self, message: Message) -> Outcome:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.address
        mail["Subject"] = message.summary
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.key}@heatlink>"
        mail["X-Heatlink-Idempotency-Key"] = message.key
        mail.set_content(as_text(message))
        mail.add_alternative(as_html(message), subtype="html")
        return await asyncio.to_thread(self._send, mail)

    def _send(self, mail: EmailMessage) -> Outcome:
        made: list[smtplib.SMTP] = []

        def opened(smtp: smtplib.SMTP) -> None:
            with self._lock:
                if self._closing:
                    raise smtplib.SMTPServerDisconnected("the channel is closing")
                self._open.add(smtp)
                made.append(smtp)

        try:
            with _CuttableSmtp(self._host, self._port, self._timeout_s, opened) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                if self._user and self._password:
                    smtp.login(self._user, self._password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                return Fail(f"recipient refused: {exc.recipients}")
            return Retry(f"recipient deferred: {exc.recipients}")
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                return Fail(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
            return Retry(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
        except (smtplib.SMTPException, OSError) as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._open.difference_update(made)
        return Delivered("accepted by the relay")

    async def close(self) -> None:
        """Cut the sends under way: a frozen server would hold each for its timeout, and
        the worker's thread pool is joined when it stops. A cut send is retried later."""
        with self._lock:
            self._closing = True
            for smtp in self._open:
                sock = getattr(smtp, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


class _CuttableSmtp(smtplib.SMTP):
    """Known to the channel before it connects, so that `close` can cut a send that waits
    on a frozen server, the server's greeting included."""

    def __init__(self, host: str, port: int, timeout_s: float,
                 opened: Callable[[smtplib.SMTP], None]) -> None:
        opened(self)
        super().__init__(host, port, timeout=timeout_s)
