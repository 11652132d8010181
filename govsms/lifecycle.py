"""The whole retention run, an entry point beside ``govsms.registry`` (it imports every domain):
the purge of each account's expired personal data (``govsms.retention.purge`` over the registry's
holdings, with removed users' purge from ``govsms.accounts``), the pruning of the access log by
the longest storage time any account has for it (the log is one chain for all accounts), and
the destruction of subject keys that protect nothing any more. The nightly job runs it after the
statistics' roll-up; ``govsms retention run [--dry-run]`` runs it from the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.accounts.models import Account, User
from govsms.accounts.service import purge_removed_users
from govsms.audit.prune import PruneRefused, PruneReport, prune_access_log
from govsms.db import session_scope
from govsms.personal_data import Holding
from govsms.registry import all_holdings, destroy_all_unused_subject_keys
from govsms.retention.purge import BATCH_ROWS, PurgeRunReport, longest_storage_time, run_purge
from govsms.retention.service import storage_time_in_force
from govsms.sending.models import StatisticsDay
from govsms.sending.statistics import purge_statistics
from govsms.tenancy import owned_by

log = logging.getLogger(__name__)


def _purge_users(
    session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
) -> int:
    """Users removed before ``before`` (a hold on a number does not cover them; one on the account
    does, through the purge)."""
    if dry_run:
        removed = select(func.count()).select_from(User).where(
            owned_by(User, account_id), col(User.removed_at).is_not(None), col(User.removed_at) < before,
        )
        return int(session.execute(removed).scalar() or 0)
    return purge_removed_users(session, account_id=account_id, before=before, limit=limit)


def lifecycle_holdings() -> tuple[Holding, ...]:
    """The registry's holdings, the users' table with its purge (removal starts its storage time)."""
    return tuple(
        replace(holding, retention_purge=_purge_users) if holding.table == "app_user" and holding.retention_purge is None else holding
        for holding in all_holdings()
    )


@dataclass
class RetentionRun:
    purge: PurgeRunReport
    access_log: PruneReport | None
    """None: some account keeps the access log until it deletes it, or the prune was refused."""
    access_log_refused: bool
    keys_destroyed: int
    statistics_rows: int = 0
    """Roll-up rows of days past the account's storage time of statistics (or, dry, that would go)."""


def _purge_statistics(factory: sessionmaker[Session], *, now: datetime, dry_run: bool) -> int:
    """Each account's roll-up of the days past its storage time of statistics (36 months by
    default); an account's own transaction each. The roll-up names no one: no legal hold covers it."""
    with session_scope(factory) as session:
        accounts = list(session.execute(select(col(Account.id)).order_by(col(Account.id))).scalars())
    total = 0
    for account_id in accounts:
        with session_scope(factory) as session:
            days = storage_time_in_force(session, account_id, "statistics")
            if days is None:
                continue
            before = (now - timedelta(days=days)).date()
            if dry_run:
                total += int(session.execute(
                    select(func.count()).select_from(StatisticsDay).where(owned_by(StatisticsDay, account_id), col(StatisticsDay.day) < before)
                ).scalar() or 0)
            else:
                total += purge_statistics(session, account_id, before=before)
    return total


def run_retention(
    factory: sessionmaker[Session], audit_signing_seed: bytes, *, now: datetime, dry_run: bool = False, batch: int = BATCH_ROWS,
) -> RetentionRun:
    """Purge, prune the access log, destroy unused subject keys (``dry_run``: count only; keys are
    not counted)."""
    purge = run_purge(factory, lifecycle_holdings(), now=now, dry_run=dry_run, batch=batch)
    with session_scope(factory) as session:
        days = longest_storage_time(session, "access_log")
    pruned, refused = None, False
    if days is not None:
        try:
            pruned = prune_access_log(factory, audit_signing_seed, before=now - timedelta(days=days), now=now, dry_run=dry_run)
        except PruneRefused:
            log.warning("access log not pruned: its oldest segments do not verify", extra={"event": "retention.prune_refused"})
            refused = True
    destroyed = 0 if dry_run else destroy_all_unused_subject_keys(factory, now=now, batch=batch)
    statistics_rows = _purge_statistics(factory, now=now, dry_run=dry_run)
    return RetentionRun(purge, pruned, refused, destroyed, statistics_rows)


def step_counts(run: RetentionRun) -> dict[str, int]:
    """The nightly job's report of the run: counts only."""
    counts: dict[str, int] = {}
    for table, figures in run.purge.counts().items():
        counts[f"{table}_deleted"] = figures["deleted"]
        counts[f"{table}_held"] = figures["held"]
    counts["access_log_events_deleted"] = run.access_log.events if run.access_log else 0
    counts["access_log_refused"] = int(run.access_log_refused)
    counts["subject_keys_destroyed"] = run.keys_destroyed
    counts["statistics_rows_deleted"] = run.statistics_rows
    return counts
