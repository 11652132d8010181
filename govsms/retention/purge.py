"""The purge: each account's personal data whose storage time is up goes, category by category.

The caller hands in the holdings (``govsms.registry.all_holdings()``: the registry is an entry
point, this domain imports no higher one). For each account and each holding with a
``retention_purge``, the cutoff is ``now`` minus the account's storage time in force of the
holding's category (none: kept until the customer deletes it); the holding's function deletes at
most ``batch`` rows per transaction and is called again until fewer went, so no transaction is
long. The domain's function may keep rows it still needs (sent SMS of a day not rolled up into
the statistics). Holdings are purged in the reverse of their declaration order, so a domain that
declares a parent before its children (a dispatch before its messages) sees the children gone
before its parent is looked at.

Legal holds (``holds``): a hold on the account stops every purge of the account; a hold on a
number keeps that number's rows. Rows a hold keeps are counted as held: for each holding, what
would go without the account's holds less what goes with them (two counts, a dry run's). A run
ends with one audit event (counts only), and each account whose rows went or were held has
one of its own (its history on ``/settings/retention``); a dry run deletes nothing, records nothing and reports
the same counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.models import AuditEvent
from govsms.audit.record import record_event
from govsms.db import session_scope
from govsms.personal_data import Holding, Purge
from govsms.retention.holds import holds_in_force
from govsms.retention.service import storage_time_in_force, storage_times
from govsms.tenancy import owned_by

BATCH_ROWS = 5_000
"""Rows a holding's purge deletes per transaction."""


@dataclass
class TableReport:
    """One holding's part of a run, over every account."""

    category: str
    table: str
    deleted: int = 0
    """Rows deleted (a dry run: rows that would go)."""
    held: int = 0
    """Expired rows a legal hold keeps."""
    seconds: float = 0.0


@dataclass
class PurgeRunReport:
    """What a run deleted (or, ``dry_run``, would delete), per holding, in the order purged."""

    dry_run: bool
    now: datetime
    tables: list[TableReport] = field(default_factory=list)
    accounts: int = 0
    seconds: float = 0.0

    def categories(self) -> dict[str, dict[str, float]]:
        """Per category: rows deleted and held, and the seconds it took."""
        totals: dict[str, dict[str, float]] = {}
        for table in self.tables:
            total = totals.setdefault(table.category, {"deleted": 0, "held": 0, "seconds": 0.0})
            total["deleted"] += table.deleted
            total["held"] += table.held
            total["seconds"] += table.seconds
        return totals

    def counts(self) -> dict[str, dict[str, int]]:
        """Per table, counts only (the audit event's details, the job's report)."""
        return {table.table: {"deleted": table.deleted, "held": table.held} for table in self.tables}

    def details(self) -> dict[str, object]:
        """The audit event's details: flat counts (``outbound_message_deleted``, ``..._held``)."""
        details: dict[str, object] = {"accounts": self.accounts}
        for table in self.tables:
            details[f"{table.table}_deleted"] = table.deleted
            details[f"{table.table}_held"] = table.held
        return details


def _count(purge: Purge, session: Session, account_id: int, before: datetime, held: frozenset[bytes]) -> int:
    return purge(session, account_id=account_id, before=before, held=held, limit=0, dry_run=True)


def _purge_holding(
    factory: sessionmaker[Session], holding: Holding, purge: Purge, account_id: int, before: datetime, *,
    today: datetime, dry_run: bool, batch: int,
) -> tuple[int, int]:
    """One account's expired rows of one holding: (deleted or would go, held)."""
    with session_scope(factory) as session:
        holds = holds_in_force(session, account_id, today=today.date())
        expired = _count(purge, session, account_id, before, frozenset())
        if not expired:
            return 0, 0
        if holds.account:
            return 0, expired
        going = _count(purge, session, account_id, before, holds.numbers) if holds.numbers else expired
    held = expired - going
    if dry_run:
        return going, held
    deleted = 0
    while True:
        with session_scope(factory) as session:
            went = purge(session, account_id=account_id, before=before, held=holds.numbers, limit=batch)
        deleted += went
        if went < batch:
            return deleted, held


def preview_purge(session: Session, holdings: Iterable[Holding], account_id: int, *, now: datetime) -> dict[str, TableReport]:
    """What a run at ``now`` would delete of one account, and what its holds keep, per category
    (counts only; nothing is deleted): ``/settings/retention`` shows it."""
    holds = holds_in_force(session, account_id, today=now.date())
    categories: dict[str, TableReport] = {}
    for holding in reversed(tuple(holdings)):
        purge = holding.retention_purge
        if purge is None:
            continue
        entry = categories.setdefault(holding.category, TableReport(holding.category, holding.table))
        days = storage_time_in_force(session, account_id, holding.category)
        if days is None:
            continue
        before = now - timedelta(days=days)
        expired = _count(purge, session, account_id, before, frozenset())
        going = 0 if holds.account else _count(purge, session, account_id, before, holds.numbers) if holds.numbers else expired
        entry.deleted += going
        entry.held += expired - going
    return categories


def run_purge(
    factory: sessionmaker[Session], holdings: Iterable[Holding], *, now: datetime, dry_run: bool = False,
    batch: int = BATCH_ROWS, account_ids: Iterable[int] | None = None,
) -> PurgeRunReport:
    """Purge every account's expired personal data (``account_ids``: only these accounts), see
    the module's docstring; the report per holding."""
    started = time.monotonic()
    report = PurgeRunReport(dry_run=dry_run, now=now)
    purgeable = [holding for holding in reversed(tuple(holdings)) if holding.retention_purge is not None]
    tables = {holding.table: TableReport(holding.category, holding.table) for holding in purgeable}
    report.tables = list(tables.values())
    with session_scope(factory) as session:
        accounts = list(account_ids) if account_ids is not None else list(
            session.exec(select(col(Account.id)).order_by(col(Account.id))).all()
        )
    for account_id in accounts:
        if account_id is None:
            continue
        report.accounts += 1
        mine: dict[str, object] = {}
        for holding in purgeable:
            purge = holding.retention_purge
            assert purge is not None  # filtered above
            with session_scope(factory) as session:
                days = storage_time_in_force(session, account_id, holding.category)
            if days is None:
                continue
            table_started = time.monotonic()
            deleted, held = _purge_holding(
                factory, holding, purge, account_id, now - timedelta(days=days), today=now, dry_run=dry_run, batch=batch,
            )
            entry = tables[holding.table]
            entry.deleted += deleted
            entry.held += held
            entry.seconds += time.monotonic() - table_started
            if deleted or held:
                mine[f"{holding.table}_deleted"], mine[f"{holding.table}_held"] = deleted, held
        if mine and not dry_run:
            # The account's own event: its history on /settings/retention (counts only).
            with session_scope(factory) as session:
                record_event(session, None, Action.PURGE_RUN, now=now, account_id=account_id, details=mine)
    report.seconds = time.monotonic() - started
    if not dry_run:
        with session_scope(factory) as session:
            record_event(session, None, Action.PURGE_RUN, now=now, details=report.details())
    return report


@dataclass(frozen=True)
class PastRun:
    """One purge run of an account, read back from its access-log event."""

    at: datetime
    deleted: int
    held: int


def purge_history(session: Session, account_id: int, *, limit: int = 10) -> list[PastRun]:
    """The account's latest purge runs that deleted or held something, newest first."""
    events = session.exec(
        select(AuditEvent).where(owned_by(AuditEvent, account_id), col(AuditEvent.action) == Action.PURGE_RUN)
        .order_by(col(AuditEvent.seq).desc()).limit(limit)
    ).all()
    runs = []
    for event in events:
        counts = json.loads(event.details or "{}")
        runs.append(PastRun(
            at=event.occurred_at,
            deleted=sum(int(value) for key, value in counts.items() if key.endswith("_deleted")),
            held=sum(int(value) for key, value in counts.items() if key.endswith("_held")),
        ))
    return runs


def longest_storage_time(session: Session, category_key: str) -> int | None:
    """The longest storage time in force of a category among all accounts (the provider's
    maximum when there is no account): for data of all accounts at once, such as the access log,
    one chain. None: some account keeps it until it deletes it."""
    account_ids = [account_id for account_id in session.exec(select(col(Account.id))).all() if account_id is not None]
    if not account_ids:
        maximum = next(time for time in storage_times(session) if time.category.key == category_key)
        return maximum.days
    longest = 0
    for account_id in account_ids:
        days = storage_time_in_force(session, account_id, category_key)
        if days is None:
            return None
        longest = max(longest, days)
    return longest
