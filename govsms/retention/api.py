"""HTTP API of the account's own storage times: ``GET|PUT /api/v1/retention`` (admin or DPO keys), and
of its legal holds: ``GET|POST /api/v1/retention/holds``, ``DELETE /api/v1/retention/holds/{hold_id}`` (DPO keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from litestar import Request, delete, get, post, put
from litestar.params import JSONBody, KwargDefinition
from msgspec import Struct

from govsms.auth import Permission
from govsms.i18n import _
from govsms.retention.holds import end_legal_hold, legal_holds, place_hold
from govsms.retention.models import LegalHold
from govsms.retention.service import AccountStorageTime, set_storage_times_for, storage_times_for
from govsms.web.api import ApiController, errors
from govsms.web.forms import Db, Now
from govsms.web.guards import requires
from govsms.web.params import Id


class StorageTime(Struct):
    category: str
    """The data category's key (``outbound_messages``, ``contacts``, ...)."""
    label: str
    """What the category is called, in the request's language."""
    maximum_days: int | None
    """The provider's maximum; null: until the customer deletes the data."""
    chosen_days: int | None
    """The account's own choice; null: none, the maximum applies."""
    days_in_force: int | None
    """The choice capped by the maximum: how long the account's data of this category is kept; null: until deleted."""
    least_days: int
    most_days: int
    """A choice is a whole number of days from ``least_days`` to ``most_days``."""


class StorageTimes(Struct):
    categories: list[StorageTime]


@dataclass
class StorageChoices:
    storage_times: Annotated[dict[str, int | None], KwargDefinition(
        description="Category key -> whole days (shorter than or equal to the provider's maximum), or null to drop the "
                    "account's choice so that the maximum applies. Categories not named keep their choice.",
    )]


def _answer(times: list[AccountStorageTime]) -> StorageTimes:
    return StorageTimes(categories=[
        StorageTime(
            category=time.category.key, label=_(time.category.label), maximum_days=time.maximum, chosen_days=time.chosen,
            days_in_force=time.in_force, least_days=time.category.min_days, most_days=time.longest,
        )
        for time in times
    ])


class RetentionApi(ApiController):
    guards = (requires(Permission.STORAGE_TIMES),)
    tags = ("retention",)

    @get("/api/v1/retention", summary="The account's storage times: the provider's maximum, the account's choice, the time in force")
    def retention_show(self, request: Request[Any, Any, Any], db: Db) -> StorageTimes:
        return _answer(storage_times_for(db, request.scope["user"]))

    @put(
        "/api/v1/retention", summary="Choose the account's own storage times (admin or DPO keys)",
        responses=errors(400, 409, 415, 422),
    )
    def retention_set(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[StorageChoices], now: Now) -> StorageTimes:
        """Nothing is saved when any value is refused (422, ``fields`` names each category). Each
        change is recorded in the access log; the DPA then offers a new version (``GET /api/v1/dpa``)."""
        return _answer(set_storage_times_for(db, request.scope["user"], data.storage_times, now=now))


class Hold(Struct):
    id: int
    on: str
    """``account`` (nothing of the account is purged) or ``number`` (one number; not shown: only its keyed hash is kept)."""
    reason: str
    until: date
    """The last day the hold is in force."""
    placed_by: str
    placed_at: datetime


class Holds(Struct):
    holds: list[Hold]


@dataclass
class NewHold:
    reason: Annotated[str, KwargDefinition(description="Why the data is kept (required, at most 200 characters).")]
    until: Annotated[date, KwargDefinition(description="The last day the hold is in force (YYYY-MM-DD, from today on).")]
    number: Annotated[str | None, KwargDefinition(
        description="Hold only this number's data; absent or null: the whole account. Kept only as a keyed hash.",
    )] = None


def _hold(hold: LegalHold) -> Hold:
    assert hold.id is not None  # a saved row
    return Hold(
        id=hold.id, on="account" if hold.blind_index is None else "number", reason=hold.reason, until=hold.until,
        placed_by=hold.created_by, placed_at=hold.created_at,
    )


class LegalHoldApi(ApiController):
    guards = (requires(Permission.RETENTION),)
    tags = ("retention",)

    @get("/api/v1/retention/holds", summary="The account's legal holds in force (DPO keys)")
    def holds_list(self, request: Request[Any, Any, Any], db: Db, now: Now) -> Holds:
        return Holds(holds=[_hold(hold) for hold in legal_holds(db, request.scope["user"], today=now.date())])

    @post("/api/v1/retention/holds", summary="Place a legal hold on the account or on one number (DPO keys)", responses=errors(400, 415, 422))
    def hold_place(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[NewHold], now: Now) -> Hold:
        """The purge deletes nothing the hold covers up to and including ``until``. Recorded in the access log."""
        return _hold(place_hold(db, request.scope["user"], number=data.number, reason=data.reason, until=data.until, now=now))

    @delete("/api/v1/retention/holds/{hold_id:int}", summary="End a legal hold early (DPO keys)", responses=errors(400, 404, 422))
    def hold_end(self, request: Request[Any, Any, Any], db: Db, now: Now, hold_id: Id) -> None:
        """The hold ends yesterday: the next purge takes what it kept. Recorded in the access log."""
        end_legal_hold(db, request.scope["user"], hold_id, now=now)


ROUTES = [RetentionApi, LegalHoldApi]
