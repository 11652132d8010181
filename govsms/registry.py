"""The personal-data registry: every domain's declared holdings in one list (see
``govsms.personal_data``). An entry point, beside ``govsms.models``: it imports every domain, so
no domain imports it; the callers that iterate it (the app, the CLI, tests) hand it down."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts import personal_data as accounts
from govsms.audit import personal_data as audit
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.contacts import personal_data as contacts
from govsms.db import session_scope
from govsms.dpa import personal_data as dpa
from govsms.keys import personal_data as keys
from govsms.keys import store
from govsms.personal_data import Holding
from govsms.receiving import personal_data as receiving
from govsms.retention import personal_data as retention
from govsms.sending import personal_data as sending
from govsms.subjects import personal_data as subjects

DOMAINS = (keys, accounts, retention, audit, contacts, sending, receiving, dpa, subjects)


def all_holdings() -> tuple[Holding, ...]:
    """Every table that holds personal data, as its domain declares it."""
    return tuple(holding for domain in DOMAINS for holding in domain.HOLDINGS)



def subject_references() -> tuple[tuple[str, str], ...]:
    """Every (table, column) whose rows hold data under a subject's key: the declared subject
    columns of holdings with sealed or blind-indexed columns. The key store's own table is not a
    reference, nor is the access log's (it names people by id and holds nothing sealed, so it
    keeps no key alive). ``govsms.keys.store.destroy_unused_subject_keys`` takes this list."""
    return tuple(
        (holding.table, column)
        for holding in all_holdings()
        if holding.table != "subject_key" and (holding.sealed or holding.blind_indexes)
        for column in holding.subject_columns
    )


def destroy_unused_subject_keys(session: Session, *, now: datetime, limit: int) -> int:
    """Destroy the subject keys that protect no data any more (``subject_references``), with an
    access-log event giving the count; returns it."""
    destroyed = store.destroy_unused_subject_keys(session, subject_references(), now=now, limit=limit)
    record_event(session, None, Action.SUBJECT_KEYS_DESTROYED, now=now, details={"destroyed": destroyed})
    return destroyed


def destroy_all_unused_subject_keys(factory: sessionmaker[Session], *, now: datetime, batch: int) -> int:
    """Destroy every subject key that protects no data any more, at most ``batch`` keys per
    transaction, then one access-log event giving the run's total (the retention run's step);
    returns it."""
    references = subject_references()
    destroyed = 0
    while True:
        with session_scope(factory) as session:
            went = store.destroy_unused_subject_keys(session, references, now=now, limit=batch)
        destroyed += went
        if went < batch:
            break
    with session_scope(factory) as session:
        record_event(session, None, Action.SUBJECT_KEYS_DESTROYED, now=now, details={"destroyed": destroyed})
    return destroyed
