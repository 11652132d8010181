"""The retention purge of sent SMS (category ``outbound_messages``): the messages with their parts,
the delivery reports waiting for those parts and the opt-out tokens (a column of the message), and
then the dispatches that have no message left (their text and sender with them).

Both functions follow ``govsms.personal_data.Purge``: one account, rows from before ``before``
but never of a day later than the statistics are complete and rolled up through
(``statistics.purgeable``: a purge never removes a day not rolled up, and steps over a day still
waiting for a message, such as one scheduled far ahead, without stopping there), none of a number
on legal hold (``held``: blind indexes, matched through the message's ``subject_key``, read
where the keys are kept), at most
``limit`` messages or dispatches per call, by id batches in bulk Core deletes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Integer, String, any_, bindparam, delete, func, select
from sqlmodel import Session, col

from govsms.db import rowcount
from govsms.keys.store import SubjectKey, vault_of
from govsms.sending.models import Dispatch, MessagePart, OutboundMessage, PendingReport
from govsms.sending.statistics import purgeable
from govsms.tenancy import owned_by


def purge_cap(session: Session, account_id: int, before: datetime, column: Any) -> list[Any] | None:
    """Conditions on ``column`` (a ``created_at``): before ``before``, on a day rolled up and not
    waiting (``statistics.purgeable``); None: no day is rolled up, nothing may go."""
    return purgeable(session, account_id, column, before)


def _held_subjects(session: Session, account_id: int, held: frozenset[bytes]) -> list[int]:
    """The subject ids of the numbers on hold, read where the keys are (the main database or a
    separate key store)."""
    query = select(col(SubjectKey.id)).where(owned_by(SubjectKey, account_id), col(SubjectKey.blind_index).in_(held))
    if session.info.get("vault") is None:
        return [int(found) for found in session.execute(query).scalars()]
    with vault_of(session).key_store(session) as store:
        return [int(found) for found in store.execute(query).scalars()]


def _among(session: Session, column: Any, values: list[Any], kind: Any) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(:array)``, one parameter instead of thousands
    (a purge batch's ids: SQLAlchemy renders and psycopg binds each of an IN list's values)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    return column.in_(values)


def _expired_messages(session: Session, account_id: int, cap: list[Any], held: frozenset[bytes]) -> Any:
    condition = [owned_by(OutboundMessage, account_id), *cap]
    if held and (subjects := _held_subjects(session, account_id, held)):
        condition.append(col(OutboundMessage.subject_id).not_in(subjects))
    return condition


def purge_sent_messages(
    session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
) -> int:
    """Delete up to ``limit`` of the account's expired sent SMS, their parts and the delivery
    reports waiting for those parts; the messages deleted (``dry_run``: how many would go)."""
    cap = purge_cap(session, account_id, before, col(OutboundMessage.created_at))
    if cap is None:
        return 0
    condition = _expired_messages(session, account_id, cap, held)
    if dry_run:
        return int(session.execute(select(func.count()).select_from(OutboundMessage).where(*condition)).scalar() or 0)
    # The oldest first, in the order of the index on (account_id, created_at): the scan stops at
    # ``limit`` (ordered by id it read and sorted every expired message's id, each batch).
    oldest = select(col(OutboundMessage.id)).where(*condition).order_by(col(OutboundMessage.created_at)).limit(limit)
    ids = list(session.execute(oldest).scalars())
    if not ids:
        return 0
    # The parts' ids come back from their delete: the waiting reports go by primary key, with no
    # second look-up of the parts by message.
    parts = list(session.execute(
        delete(MessagePart).where(_among(session, col(MessagePart.message_id), ids, Integer())).returning(col(MessagePart.provider_id))
    ).scalars())
    if parts:
        session.execute(delete(PendingReport).where(_among(session, col(PendingReport.provider_id), parts, String())))
    messages = delete(OutboundMessage).where(owned_by(OutboundMessage, account_id), _among(session, col(OutboundMessage.id), ids, Integer()))
    return rowcount(session.execute(messages))


def purge_empty_dispatches(
    session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
) -> int:
    """Delete up to ``limit`` of the account's dispatches from before ``before`` that have no
    message left (a dispatch with a held number's message keeps it, so ``held`` needs no check
    here); the dispatches deleted (``dry_run``: how many would go now)."""
    cap = purge_cap(session, account_id, before, col(Dispatch.created_at))
    if cap is None:
        return 0
    # NOT IN a hashed list of the account's messages' dispatches, read in one pass: a correlated
    # NOT EXISTS probes each dispatch's index entries, and after a purge of many messages
    # (PostgreSQL, before a vacuum) each probe wades through its purged messages' dead entries
    # (13 s for 1,000 dispatches of 1,000 purged messages; bench/purge_sent.py).
    with_message = select(col(OutboundMessage.dispatch_id)).where(owned_by(OutboundMessage, account_id))
    condition = [owned_by(Dispatch, account_id), *cap, col(Dispatch.id).not_in(with_message)]
    if dry_run:
        return int(session.execute(select(func.count()).select_from(Dispatch).where(*condition)).scalar() or 0)
    ids = list(session.execute(select(col(Dispatch.id)).where(*condition).order_by(col(Dispatch.id)).limit(limit)).scalars())
    if not ids:
        return 0
    return rowcount(session.execute(delete(Dispatch).where(owned_by(Dispatch, account_id), col(Dispatch.id).in_(ids))))
