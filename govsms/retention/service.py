"""Reading and setting the provider's storage times (the operator's; customers may later choose
shorter ones)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.retention.categories import BY_KEY, CATEGORIES, DataCategory
from govsms.retention.models import RetentionLimit


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
