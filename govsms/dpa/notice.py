"""The notice a new sub-processor gives (DPA clause 6.2): an e-mail to each customer account's
administrative address, when it has one (``Account.admin_email``). The banner admins see until
it takes effect is ``dpa.ui.subprocessor_banners``."""

from __future__ import annotations

import logging

from sqlmodel import Session, col, select

from govsms.accounts.models import Account
from govsms.clock import zone
from govsms.dpa.models import SubProcessor
from govsms.dpa.registry import country_name
from govsms.i18n import _, language
from govsms.mail import Mail, MailFailed, send_mail
from govsms.settings import Settings

log = logging.getLogger(__name__)


def notice_mails(session: Session, settings: Settings, entry: SubProcessor) -> list[Mail]:
    """One e-mail per customer account with an administrative address (in Swedish, the service's
    language), naming the sub-processor, what it will do, where, and from when."""
    accounts = session.exec(
        select(Account).where(
            col(Account.is_provider).is_(False), col(Account.is_active).is_(True), col(Account.admin_email).is_not(None),
            col(Account.admin_email) != "",
        ).order_by(col(Account.id))
    ).all()
    mails = []
    with language("sv"):
        for account in accounts:
            assert account.admin_email is not None  # selected so
            values = {
                "name": entry.name, "org": entry.org_number or "–",
                "place": ", ".join(part for part in (entry.city, country_name(entry.country, "sv")) if part),
                "purpose": entry.purpose, "date": entry.effective_at.astimezone(zone(account.timezone)).strftime("%Y-%m-%d"),
                "account": account.name, "link": f"{settings.public_url.rstrip('/')}/dpa",
            }
            body = _(
                "Your provider will engage a new sub-processor for %(account)s:\n\n"
                "  %(name)s (org. no. %(org)s), %(place)s\n"
                "  Purpose: %(purpose)s\n\n"
                "It takes effect on %(date)s, not before: the data processing agreement (clause 6.2) gives you "
                "this notice so you can object first. Annex IV of the agreement names it from that date.\n\n"
                "Read the agreement and its annexes: %(link)s\n"
            ) % values
            mails.append(Mail(
                to=[account.admin_email],
                subject=_("New sub-processor from %(date)s: %(name)s") % {"date": values["date"], "name": entry.name},
                body=body,
            ))
    return mails


def send_notices(settings: Settings, mails: list[Mail]) -> tuple[int, int]:
    """Sends each notice (after the response: a slow mail server holds no page); returns (sent,
    failed). A failure is logged with its code only, never an address."""
    sent = failed = 0
    for mail in mails:
        try:
            send_mail(settings, mail)
            sent += 1
        except MailFailed as failure:
            failed += 1
            log.warning("sub-processor notice not mailed: %s", failure.code)
    if mails:
        log.info("sub-processor notices mailed: %d sent, %d failed", sent, failed)
    return sent, failed
