"""Storage times: the provider's maximum per data category (the operator's), and each account's
own shorter choice (its admin's or DPO's). The time in force for an account is its choice capped
by the maximum; the purge reads it through ``storage_time_in_force``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import _
from govsms.retention.categories import BY_KEY, CATEGORIES, DataCategory
from govsms.retention.models import RetentionChoice, RetentionLimit
from govsms.tenancy import owned_by


@dataclass(frozen=True)
class StorageTime:
    category: DataCategory
    days: int | None
    changed: bool
    """The operator changed the default."""


def storage_times(session: Session) -> list[StorageTime]:
    """Every category with the maximum storage time in force, in the order of ``CATEGORIES``."""
    limits = {limit.category: limit for limit in session.exec(select(RetentionLimit))}
    times = []
    for category in CATEGORIES:
        limit = limits.get(category.key)
        times.append(StorageTime(category, limit.days if limit else category.default_days, limit is not None))
    return times


def set_storage_time(session: Session, actor: Actor, key: str, days: int | None, *, now: datetime) -> StorageTime:
    """The operator sets a category's maximum; ``None`` keeps data until the customer deletes it
    (only where the default does so too)."""
    require(actor, Permission.PLATFORM)
    category = BY_KEY.get(key)
    if category is None:
        raise NotFound(_("No such data category."))
    if days is None and category.default_days is not None:
        raise InvalidInput(
            _("This category needs a storage time in days."), fields={"days": _("Give a number of days.")}
        )
    if days is not None and not category.min_days <= days <= category.max_days:
        message = _("Give a number of days from %(min)d to %(max)d.") % {"min": category.min_days, "max": category.max_days}
        raise InvalidInput(message, fields={"days": message})
    limit = session.get(RetentionLimit, key) or RetentionLimit(category=key, updated_by=actor.label, updated_at=now)
    limit.days = days
    limit.updated_by = actor.label
    limit.updated_at = now
    session.add(limit)
    session.flush()
    record_event(
        session, actor, Action.STORAGE_TIME_CHANGED, now=now, target=("data_category", key),
        details={"days": days if days is not None else "customer"},
    )
    return StorageTime(category, days, True)


# -- the account's own storage times ------------------------------------------------------------


@dataclass(frozen=True)
class AccountStorageTime:
    """One category as an account has it: the provider's maximum, the account's own choice, and
    the time in force (the choice capped by the maximum)."""

    category: DataCategory
    maximum: int | None
    """The provider's maximum; ``None``: until the customer deletes the data."""
    chosen: int | None
    """The account's own choice in days; ``None``: none (the maximum applies)."""

    @property
    def in_force(self) -> int | None:
        """Days the account's data of this category is kept; ``None``: until the customer deletes it."""
        if self.chosen is None:
            return self.maximum
        return self.chosen if self.maximum is None else min(self.chosen, self.maximum)

    @property
    def longest(self) -> int:
        """The most days the account may choose: the maximum, or the category's own limit."""
        return self.category.max_days if self.maximum is None else self.maximum

    @property
    def choosable(self) -> bool:
        """There is a choice to make: some number of days shorter than the maximum, or any
        number of days where the maximum is "until the customer deletes it"."""
        return self.maximum is None or self.maximum > self.category.min_days


def account_storage_times(session: Session, account_id: int) -> list[AccountStorageTime]:
    """Every category as the account ``account_id`` has it, in the order of ``CATEGORIES``; for
    jobs and the DPA (no actor; nothing here is personal data)."""
    chosen = {
        choice.category: choice.days
        for choice in session.exec(select(RetentionChoice).where(owned_by(RetentionChoice, account_id)))
    }
    return [AccountStorageTime(time.category, time.days, chosen.get(time.category.key)) for time in storage_times(session)]


def storage_time_in_force(session: Session, account_id: int, category_key: str) -> int | None:
    """Days the account keeps data of this category (its choice capped by the provider's
    maximum); ``None``: until the customer deletes it. ``NotFound`` for an unknown category."""
    for time in account_storage_times(session, account_id):
        if time.category.key == category_key:
            return time.in_force
    raise NotFound(_("No such data category."))


def storage_times_for(session: Session, actor: Actor) -> list[AccountStorageTime]:
    """The actor's account's storage times, for its admin or DPO (``/settings/retention``)."""
    require(actor, Permission.STORAGE_TIMES)
    return account_storage_times(session, actor.account_id)


def check_storage_choice(time: AccountStorageTime, days: int | None) -> str | None:
    """What is wrong with choosing ``days`` for this category (``None``: nothing)."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int):
        return _("Give a whole number of days.")
    if not time.category.min_days <= days <= time.longest:
        return _("Give a number of days from %(min)d to %(max)d.") % {"min": time.category.min_days, "max": time.longest}
    return None


def set_storage_times_for(
    session: Session, actor: Actor, choices: Mapping[str, int | None], *, now: datetime
) -> list[AccountStorageTime]:
    """The admin or DPO sets the account's own storage times: ``category key -> days`` (whole
    days, from the category's least to the provider's maximum), ``None`` to drop the choice so
    that the maximum applies. Categories not named keep theirs. Nothing is saved when any value
    is refused (``InvalidInput``, its ``fields`` keyed by category). Each change is one
    ``retention.account_storage_time_changed`` event. Returns every category as it is now."""
    require(actor, Permission.STORAGE_TIMES)
    times = {time.category.key: time for time in account_storage_times(session, actor.account_id)}
    problems: dict[str, str] = {}
    for key, days in choices.items():
        time = times.get(key)
        problem = _("No such data category.") if time is None else check_storage_choice(time, days)
        if problem is not None:
            problems[key] = problem
    if problems:
        raise InvalidInput(_("The storage times were not saved."), fields=problems)
    stored = {
        choice.category: choice
        for choice in session.exec(
            select(RetentionChoice).where(owned_by(RetentionChoice, actor), col(RetentionChoice.category).in_(list(choices)))
        )
    }
    for key, days in choices.items():
        choice = stored.get(key)
        before = choice.days if choice is not None else None
        if before == days:
            continue
        try:
            with session.begin_nested():  # a choice made at the same moment by another request
                if days is None:
                    assert choice is not None  # before != days
                    session.delete(choice)
                else:
                    choice = choice or RetentionChoice(
                        account_id=actor.account_id, category=key, days=days, updated_by=actor.label, updated_at=now
                    )
                    choice.days, choice.updated_by, choice.updated_at = days, actor.label, now
                    session.add(choice)
                session.flush()
        except (IntegrityError, StaleDataError):  # inserted, or deleted, by another request meanwhile
            raise Conflict(_("The storage times were changed at the same moment by someone else. Reload the page and look at them.")) from None
        times[key] = AccountStorageTime(times[key].category, times[key].maximum, days)
        record_event(
            session, actor, Action.ACCOUNT_STORAGE_TIME_CHANGED, now=now, target=("data_category", key),
            details={
                "before": before if before is not None else "maximum", "after": days if days is not None else "maximum",
                "in_force": times[key].in_force if times[key].in_force is not None else "customer",
            },
        )
    return list(times.values())
