"""E-mail through the configured SMTP server (``GOVSMS_SMTP_*``): forwards of received SMS and
the provider's notices to customers (a new sub-processor). A core module, so any domain can mail."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from govsms.settings import Settings

SMTP_TIMEOUT = 15
"""Seconds to wait for the mail server at each step."""


@dataclass(frozen=True)
class Mail:
    to: list[str]
    subject: str
    body: str


class MailFailed(Exception):
    """Sending an e-mail failed; ``code`` is short and names no one (``smtp:550``, ``smtp:connect``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def smtp_starttls(settings: Settings) -> bool:
    """STARTTLS unless turned off; by default on when a user is set (a password is never sent in clear)."""
    return settings.smtp_starttls if settings.smtp_starttls is not None else bool(settings.smtp_user)


def send_mail(settings: Settings, mail: Mail) -> None:
    """One e-mail through the configured SMTP server; ``MailFailed`` with a code when it cannot."""
    if not settings.smtp_host:
        raise MailFailed("smtp:unset")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(mail.body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            if smtp_starttls(settings):
                smtp.starttls(context=ssl.create_default_context())  # the server's certificate is verified
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        codes = sorted({code for code, _reply in refused.recipients.values()})
        raise MailFailed(f"smtp:{codes[0] if codes else 'rcpt'}") from None
    except smtplib.SMTPResponseException as refused:
        raise MailFailed(f"smtp:{refused.smtp_code}") from None
    except smtplib.SMTPNotSupportedError:
        raise MailFailed("smtp:starttls") from None
    except TimeoutError:
        raise MailFailed("smtp:timeout") from None
    except ssl.SSLError:  # the certificate did not verify, or no common protocol
        raise MailFailed("smtp:tls") from None
    except (smtplib.SMTPException, OSError):
        raise MailFailed("smtp:connect") from None
