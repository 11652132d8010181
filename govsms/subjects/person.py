"""The person a data-subject request is about, from the number the DPO typed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from govsms.auth import Actor, Permission, require
from govsms.errors import InvalidInput
from govsms.keys.store import vault_of
from govsms.personal_data import Person
from govsms.phone import DEFAULT_REGION, parse_number


def person_for(session: Session, actor: Actor, raw_number: str, *, now: datetime) -> Person:
    """The actor's account's data subject for ``raw_number`` in any format (``070-123 45 67``,
    ``+46701234567``), read in the account's region. Creates no key: a number the account holds
    no key for gives ``Person.subject`` None. InvalidInput (field ``number``) for a number that is
    not one."""
    require(actor, Permission.SUBJECTS)
    parsed = parse_number(raw_number, actor.region or DEFAULT_REGION)
    if parsed.e164 is None:
        reason = parsed.reason or ""
        raise InvalidInput(reason, fields={"number": reason})
    vault = vault_of(session)
    index = vault.blind_indexes(session, actor.account_id, [parsed.e164], now=now)[parsed.e164]
    subject = vault.find_subjects(session, actor.account_id, [parsed.e164], now=now).get(parsed.e164)
    return Person(account_id=actor.account_id, blind_index=index, subject=subject, e164=parsed.e164)
