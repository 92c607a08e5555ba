"""Sending one mail over SMTP (blocking; the daemon calls it in a worker thread).

Every failure becomes a `MailError` whose message says in plain words what went wrong and
which setting to look at, e.g. "the mail server 127.0.0.1:2525 refused the connection;
check mail.host and mail.port". Secrets (the password) never appear in a message.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from nasfs.errors import NasfsError
from nasfs.wire import codes

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0  # per network operation: connect, each SMTP command


class MailError(NasfsError):
    """A mail could not be sent (or mail is not set up); str() says why in plain words."""

    wire_code = codes.MAIL


class MailNotConfigured(MailError):
    """mail.host or mail.to is empty."""

    wire_code = codes.MAIL_NOT_CONFIGURED


@dataclass(frozen=True)
class MailSettings:
    """The `mail.*` settings that sending needs (see nasfs.policy.settings)."""

    host: str
    port: int
    starttls: bool
    ssl: bool
    user: str
    password: str
    sender: str
    to: tuple[str, ...]
    enabled: bool

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> MailSettings:
        return cls(host=str(values["mail.host"]).strip(), port=int(values["mail.port"]),
                   starttls=bool(values["mail.starttls"]), ssl=bool(values["mail.ssl"]),
                   user=str(values["mail.user"]), password=str(values["mail.password"]),
                   sender=str(values["mail.from"]) or f"nasfs@{socket.gethostname()}",
                   to=tuple(values["mail.to"]), enabled=bool(values["mail.enabled"]))

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def check_complete(self, to: Sequence[str] | None = None) -> None:
        """Raise MailNotConfigured when there is no server or nobody to mail."""
        if not self.host:
            raise MailNotConfigured("no mail server is set; set mail.host (and mail.port)")
        if not (to or self.to):
            raise MailNotConfigured("nobody would get the mail; set mail.to to an address")


def build_message(settings: MailSettings, subject: str, body: str,
                  to: Sequence[str] | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(to or settings.to)
    message["Date"] = formatdate(time.time(), localtime=True)
    message["Message-ID"] = make_msgid(uuid.uuid4().hex[:12], domain="nasfs")
    message.set_content(body)
    return message


def send_mail(settings: MailSettings, subject: str, body: str,
              to: Sequence[str] | None = None, *, timeout: float = TIMEOUT_S) -> list[str]:
    """Send one mail; returns the recipients. Raises MailError (plain words) on failure."""
    settings.check_complete(to)
    recipients = list(to or settings.to)
    message = build_message(settings, subject, body, recipients)
    try:
        _deliver(settings, message, recipients, timeout)
    except MailError:
        raise
    except Exception as exc:
        raise MailError(explain(settings, exc)) from exc
    log.info("mail %r sent to %s through %s", subject, ", ".join(recipients), settings.server)
    return recipients


def _deliver(settings: MailSettings, message: EmailMessage, recipients: list[str],
             timeout: float) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.ssl:
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if settings.starttls and not settings.ssl:
            if not smtp.has_extn("starttls"):
                raise MailError(f"the mail server {settings.server} does not offer STARTTLS; "
                                "set mail.starttls to no (only on a trusted network) or use "
                                "mail.ssl with port 465")
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password)
        refused = smtp.send_message(message, to_addrs=recipients)
        if refused:
            names = ", ".join(sorted(refused))
            raise MailError(f"the mail server {settings.server} refused some recipients "
                            f"({names}); the others got the mail")


def explain(settings: MailSettings, exc: BaseException) -> str:
    """One sentence for a person about why sending through `settings` failed."""
    server = f"the mail server {settings.server}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{server} refused the connection; check mail.host and mail.port"
    if isinstance(exc, socket.gaierror):
        return f"the mail server name {settings.host!r} cannot be found; check mail.host"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{server} did not answer in time; check mail.host, mail.port and the network"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{server} refused the user name or password; check mail.user and mail.password"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{server} does not support what was asked ({_smtp_text(exc)}); check mail.ssl, "\
               "mail.starttls and mail.user"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        names = ", ".join(sorted(exc.recipients))
        return f"{server} refused the recipients {names}; check mail.to"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"{server} refused the sender {exc.sender}: {_smtp_text(exc)}; check mail.from"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{server} answered {exc.smtp_code}: {_smtp_text(exc)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{server} closed the connection; check mail.port, mail.ssl and mail.starttls"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"the secure connection to {server} failed ({exc}); check mail.ssl, " \
               "mail.starttls and the server's certificate"
    if isinstance(exc, OSError):
        return f"{server} cannot be reached: {exc.strerror or exc}; check mail.host, " \
               "mail.port and the network"
    return f"sending through {server} failed: {exc}"


def _smtp_text(exc: BaseException) -> str:
    error = getattr(exc, "smtp_error", b"")
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return text.strip() or str(exc)
