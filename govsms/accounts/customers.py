"""The operator's work on customer accounts: Swedish organisation numbers checked, an account's
billing details edited, an account suspended (its users cannot log in, its API keys do not work,
so nothing more is sent in its name) and reactivated."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, select

from govsms.accounts.models import Account
from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import N_, _
from govsms.textfield import single_line

ORG_NUMBER_FORMAT = N_("Write the organisation number as NNNNNN-NNNN: ten digits, a dash before the last four (e.g. 556016-0680).")
ORG_NUMBER_CHECK_DIGIT = N_("The last digit does not match the others (check digit): check the organisation number for a typing error.")
_ORG_NUMBER = re.compile(r"([0-9]{6})-?([0-9]{4})", re.ASCII)
MAX_NAME, MAX_ADDRESS = 200, 500
EDITABLE = ("name", "org_number", "billing_address", "billing_email", "admin_email", "ops_email")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over ``digits``, whose last digit is the check digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def org_number_problem(typed: str) -> str | None:
    """Why ``typed`` is not a Swedish organisation number (NNNNNN-NNNN with its Luhn check digit),
    in the request's language; None when it is one. Spaces are allowed around it."""
    match = _ORG_NUMBER.fullmatch(typed.strip())
    if match is None:
        return _(ORG_NUMBER_FORMAT)
    if not luhn_ok(match.group(1) + match.group(2)):
        return _(ORG_NUMBER_CHECK_DIGIT)
    return None


def normalise_org_number(typed: str) -> str:
    """``5560160680`` and `` 556016-0680 `` -> ``556016-0680``; InvalidInput naming ``org_number``
    with the reason otherwise. Empty stays empty (an account need not have one)."""
    typed = single_line(typed, "org_number").strip()
    if not typed:
        return ""
    if (problem := org_number_problem(typed)) is not None:
        raise InvalidInput(_("The organisation number is not valid."), fields={"org_number": problem})
    digits = typed.replace("-", "")
    return f"{digits[:6]}-{digits[6:]}"


def get_customer_account(session: Session, actor: Actor, account_id: int) -> Account:
    require(actor, Permission.PLATFORM)
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(_("No such account."))
    return account


def update_account(session: Session, actor: Actor, account_id: int, *, values: dict[str, str], now: datetime) -> Account:
    """Edit an account's name and billing details (``EDITABLE``); every field is checked and all
    problems are told at once. The event names the fields changed, not their values."""
    from govsms.accounts.service import _clean_optional_email  # one rule for e-mail addresses

    account = get_customer_account(session, actor, account_id)
    errors: dict[str, str] = {}
    cleaned: dict[str, str | None] = {}
    for field in ("name", "billing_address"):
        try:
            cleaned[field] = single_line(values.get(field, ""), field).strip()
        except InvalidInput as refused:
            errors.update(refused.fields)
    if not errors:
        if not 1 <= len(cleaned["name"] or "") <= MAX_NAME:
            errors["name"] = _("Enter the organisation's name (at most 200 characters).")
        if len(cleaned["billing_address"] or "") > MAX_ADDRESS:
            errors["billing_address"] = _("Use at most %(count)d characters.") % {"count": MAX_ADDRESS}
    try:
        cleaned["org_number"] = normalise_org_number(values.get("org_number", ""))
    except InvalidInput as refused:
        errors.update(refused.fields)
    for field in ("billing_email", "admin_email", "ops_email"):
        cleaned[field] = _clean_optional_email(values.get(field), field, errors)
    if errors:
        raise InvalidInput(_("The account was not saved."), fields=errors)
    name = cleaned["name"] or ""
    if any(other.casefold() == name.casefold() for other in session.exec(select(Account.name).where(Account.id != account.id))):
        raise Conflict(_("An account with this name exists already."), fields={"name": _("Choose another name.")})
    changed = [field for field in EDITABLE if getattr(account, field) != cleaned[field]]
    for field in changed:
        setattr(account, field, cleaned[field])
    session.add(account)
    session.flush()
    if changed:
        record_event(session, actor, Action.ACCOUNT_UPDATED, now=now, account_id=account.id, target=("account", account.id),
                     details=dict.fromkeys(changed, True))
    return account


def set_account_active(session: Session, actor: Actor, account_id: int, *, active: bool, now: datetime) -> Account:
    """Suspend (``active=False``) or reactivate an account. A suspended account's users cannot log
    in (their open sessions end at their next request) and its API keys are refused: nothing more
    is sent in its name. The provider's own account cannot be suspended (its operators would be
    locked out)."""
    account = get_customer_account(session, actor, account_id)
    if account.is_provider and not active:
        raise Conflict(_("The provider's own account cannot be suspended."))
    if account.is_active != active:
        account.is_active = active
        session.add(account)
        session.flush()
        record_event(session, actor, Action.ACCOUNT_REACTIVATED if active else Action.ACCOUNT_SUSPENDED, now=now,
                     account_id=account.id, target=("account", account.id))
    return account
