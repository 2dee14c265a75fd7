"""What reaches the patient's phone: the email, the SMS and the QR code of their link.

Why so little in a message: email and SMS cross servers the clinic does not control, and are
read on lock screens. So a message names the clinic and carries the link, and nothing of the
record: no patient name, no complaint, no instrument, no score (tests/portal/test_messages.py
asserts it). Everything the patient reads goes through the portal's gettext catalogues
(`portal.i18n`), in the request's language.

* Email: `smtplib` with the settings' host, port, TLS mode and login; an HTML part and a
  plain-text part with the same words.
* SMS: the `SmsSender` protocol. The shipped `LoggingSms` only logs that a message would
  have gone (never the link: it is a credential); a provider is plugged in with the setting
  `sms_sender = "package.module:Class"`, and nothing here assumes one.
* QR: `segno`, as inline SVG (the clinician's screen) and PNG (print, waiting-room tablet).
"""

from __future__ import annotations

import importlib
import io
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from triggerpoint.config import Settings, get_settings
from triggerpoint.errors import SetupError
from triggerpoint.portal.i18n import Translator

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"


class DeliveryError(RuntimeError):
    """A message could not be handed over. `permanent`: trying again cannot help (the
    server refused the address); otherwise the outbox tries again later."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Notice:
    """Everything a message may say: the clinic, the link, and for a reminder the days left."""

    kind: str  # "request" | "reminder"
    clinic_name: str
    link: str
    language: str
    days_left: int = 0


# --- email ------------------------------------------------------------------------------


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _render(name: str, notice: Notice) -> str:
    t = Translator(notice.language)
    return (
        _env()
        .get_template(f"portal/email/{name}")
        .render(
            clinic=notice.clinic_name,
            link=notice.link,
            days=notice.days_left,
            lang=notice.language,
            **t.template_globals(),
        )
    )


def subject(notice: Notice) -> str:
    t = Translator(notice.language)
    if notice.kind == "reminder":
        return t.gettext("Reminder: your questionnaire from %(clinic)s", clinic=notice.clinic_name)
    return t.gettext("Your questionnaire from %(clinic)s", clinic=notice.clinic_name)


def email_message(notice: Notice, *, to: str, settings: Settings | None = None) -> EmailMessage:
    """The email for one notice: a plain-text body and an HTML alternative, same words."""
    settings = settings or get_settings()
    msg = EmailMessage()
    msg["Subject"] = subject(notice)
    msg["From"] = Address(display_name=notice.clinic_name, addr_spec=settings.mail_from)
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    msg.set_content(_render(f"{notice.kind}.txt", notice))
    msg.add_alternative(_render(f"{notice.kind}.html", notice), subtype="html")
    msg["Content-Language"] = notice.language  # after: Content-* headers move to the parts
    return msg


def _smtp(settings: Settings) -> smtplib.SMTP:
    if not settings.smtp_host:
        raise DeliveryError("no SMTP server configured (setting smtp_host)")
    timeout = settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    if settings.smtp_tls == "ssl":
        return smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
        )
    server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.smtp_tls == "starttls":
        server.starttls(context=context)
    return server


def send_email(msg: EmailMessage, *, settings: Settings | None = None) -> None:
    """Hand one email to the configured SMTP server, or raise DeliveryError saying whether a
    later try could succeed (a refused address cannot; a server that is down may)."""
    settings = settings or get_settings()
    try:
        with _smtp(settings) as server:
            if settings.smtp_user:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                server.login(settings.smtp_user, password)
            server.send_message(msg)
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError("the SMTP server refused the address", permanent=True) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:250], permanent=500 <= exc.smtp_code < 600
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP server unreachable: {type(exc).__name__}: {exc}"[:250]) from None


# --- SMS --------------------------------------------------------------------------------


@runtime_checkable
class SmsSender(Protocol):
    """What an SMS provider's adapter does: send one text to one number, or raise
    DeliveryError. Plug one in with the setting `sms_sender` ("module:Class", built with no
    arguments; it reads its own configuration)."""

    def send(self, *, to: str, text: str) -> None: ...


class LoggingSms:
    """No provider: log that a text would have been sent, to which number (masked) and how
    long it was. Never the text itself: it holds the patient's link."""

    def send(self, *, to: str, text: str) -> None:
        log.warning(
            "SMS not sent (no provider configured, setting sms_sender): %d characters to %s",
            len(text),
            mask_number(to),
        )


def mask_number(number: str) -> str:
    """'+34 600 123 456' -> '…3456': enough to tell numbers apart in a log."""
    digits = [c for c in number if c.isdigit()]
    return "…" + "".join(digits[-4:])


def sms_text(notice: Notice) -> str:
    t = Translator(notice.language)
    if notice.kind == "reminder":
        return t.ngettext(
            "%(clinic)s: your questionnaire is not filled in yet, %(num)s day left: %(link)s",
            "%(clinic)s: your questionnaire is not filled in yet, %(num)s days left: %(link)s",
            notice.days_left,
            clinic=notice.clinic_name,
            link=notice.link,
        )
    return t.gettext(
        "%(clinic)s asks you to fill in a questionnaire: %(link)s",
        clinic=notice.clinic_name,
        link=notice.link,
    )


@cache
def _sms_class(path: str) -> type:
    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise SetupError(f"setting sms_sender: cannot import {path!r} (module:Class)") from None
    if not isinstance(cls, type):
        raise SetupError(f"setting sms_sender: {path!r} is not a class")
    return cls


def sms_sender(settings: Settings | None = None) -> SmsSender:
    """The configured SMS adapter (default: `LoggingSms`)."""
    sender = _sms_class((settings or get_settings()).sms_sender)()
    if not isinstance(sender, SmsSender):
        raise SetupError("setting sms_sender: the class has no send(*, to, text) method")
    return sender


# --- QR ---------------------------------------------------------------------------------


def qr_svg(url: str, *, title: str = "") -> str:
    """The link as an inline SVG (no XML declaration; scales with CSS). Error correction M
    (15 %): a screen photographed at an angle, a slightly creased print still read."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(
        buf, kind="svg", xmldecl=False, svgns=True, scale=4, border=4, title=title or None
    )
    return buf.getvalue().decode("utf-8")


def qr_png(url: str, *, scale: int = 8) -> bytes:
    """The link as a PNG to print (`scale` pixels a module, a 4-module quiet zone)."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()
