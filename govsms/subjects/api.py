"""HTTP API of one person's data (DPO keys): ``POST /api/v1/subjects/search`` (what the account
holds about a number, who accessed it), ``POST /api/v1/subjects/erasures/preview``,
``POST /api/v1/subjects/erasures`` (erase; the answer holds the signed receipt) and
``GET /api/v1/subjects/erasures/{id}/receipt`` (the receipt file, byte for byte as
``govsms dsr verify-receipt`` checks it). Numbers only in request bodies (POST)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import JSONBody, KwargDefinition
from msgspec import Meta, Struct

from govsms.audit.record import canonical_json
from govsms.auth import Permission
from govsms.subjects.erasure import ErasurePreview, HoldingPlan, Sealer, erase_subject, preview_erasure, receipt_of
from govsms.subjects.search import search_subject
from govsms.web.api import ApiController, errors
from govsms.web.forms import Db, Now
from govsms.web.guards import requires
from govsms.web.params import MAX_ID, Id, IdValue

NUMBER = KwargDefinition(description="The person's mobile number in any format (read in the account's country).")
REQUEST = KwargDefinition(description="The data-subject request (register id) this answers; absent: none (erasure registers one).")


@dataclass
class SearchBody:
    number: Annotated[str, NUMBER]
    request_id: Annotated[IdValue | None, REQUEST] = None
    page: Annotated[int, Meta(ge=1, le=MAX_ID), KwargDefinition(description="Page of the access history (50 a page).", ge=1, le=MAX_ID)] = 1


@dataclass
class ErasureBody:
    number: Annotated[str, NUMBER]
    request_id: Annotated[IdValue | None, REQUEST] = None
    unblock: Annotated[bool, KwargDefinition(description="The person also asks to be unblocked: the blocklist entry goes too.")] = False


class Held(Struct):
    table: str
    description: str
    """What personal data the table holds."""
    count: int
    first_at: datetime | None
    last_at: datetime | None
    lines: list[str]


class Category(Struct):
    key: str
    label: str
    held: list[Held]


class Access(Struct):
    seq: int
    at: datetime
    actor: str
    actor_name: str
    action: str
    label: str


class History(Struct):
    items: list[Access]
    total: int
    page: int
    per_page: int


class SearchAnswer(Struct):
    found: bool
    """False: the account holds nothing about the number."""
    categories: list[Category]
    history: History
    """Access-log events naming the person, most recent first."""
    request_reference: str | None


class Plan(Struct):
    table: str
    category: str
    label: str
    """The category, in the request's language."""
    description: str
    """What personal data the table holds."""
    rows: int | None
    reason: str | None = None
    """Kept only: why."""


class Hold(Struct):
    on: str
    reason: str
    until: date


class PreviewAnswer(Struct):
    erased: list[Plan]
    kept: list[Plan]
    holds: list[Hold]
    """Legal holds in force on the number or the account: while any, the erasure is refused (409)."""
    access_log_events: int
    notes: list[str]
    unblock: bool


class ReceiptFile(Struct):
    receipt: dict[str, Any]
    """What the erasure did (see ``govsms.subjects.receipt``): reference, account, number fingerprint,
    actor, times, rows erased and kept per table with reasons, the access log's event and checkpoint, the public key."""
    signature: str
    """Ed25519 over the canonical JSON of ``receipt``, hex."""


class ErasureAnswer(Struct):
    erasure_id: int
    reference: str
    counts: dict[str, int]
    """Rows erased per table."""
    receipt: ReceiptFile
    """The signed receipt; the file to verify is ``GET /api/v1/subjects/erasures/{id}/receipt``."""


def sealer_of(request: Request[Any, Any, Any]) -> Sealer:
    state = request.app.state
    return Sealer(keys=state.key_ring, witness_path=state.settings.audit_witness_file)


def _plan(plan: HoldingPlan) -> Plan:
    return Plan(
        table=plan.table, category=plan.category, label=plan.label, description=plan.description, rows=plan.rows, reason=plan.reason or None,
    )


def _preview(preview: ErasurePreview) -> PreviewAnswer:
    return PreviewAnswer(
        erased=[_plan(plan) for plan in preview.erased], kept=[_plan(plan) for plan in preview.kept],
        holds=[Hold(on=hold.on, reason=hold.reason, until=hold.until) for hold in preview.holds],
        access_log_events=preview.accesses, notes=preview.notes, unblock=preview.unblock,
    )


class SubjectApi(ApiController):
    guards = (requires(Permission.SUBJECTS),)
    tags = ("subjects",)

    @post("/api/v1/subjects/search", summary="What the account holds about one number, and who accessed it (DPO keys)",
          responses=errors(400, 404, 409, 415, 422), status_code=200)
    def subject_search(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[SearchBody], now: Now) -> SearchAnswer:
        """An audited read naming the person (and the request, when given)."""
        result = search_subject(
            db, request.scope["user"], request.app.state.holdings, data.number, request_id=data.request_id, now=now,
            staff_names=request.app.state.staff_names, page=data.page,
        )
        return SearchAnswer(
            found=not result.empty,
            categories=[
                Category(key=category.key, label=category.label, held=[
                    Held(
                        table=found.table, description=result.descriptions.get(found.table, found.table), count=found.count,
                        first_at=found.first_at, last_at=found.last_at, lines=list(found.lines),
                    )
                    for found in category.found
                ])
                for category in result.categories
            ],
            history=History(
                items=[Access(seq=a.seq, at=a.occurred_at, actor=a.actor, actor_name=a.actor_name, action=a.action, label=a.label)
                       for a in result.history.items],
                total=result.history.total, page=result.history.page, per_page=result.history.per_page,
            ),
            request_reference=result.request.reference if result.request is not None else None,
        )

    @post("/api/v1/subjects/erasures/preview", summary="What an erasure of one number would erase and keep, and why (DPO keys)",
          responses=errors(400, 404, 409, 415, 422), status_code=200)
    def erasure_preview(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[ErasureBody], now: Now) -> PreviewAnswer:
        return _preview(preview_erasure(
            db, request.scope["user"], request.app.state.holdings, data.number, request_id=data.request_id, unblock=data.unblock, now=now,
        ))

    @post("/api/v1/subjects/erasures", summary="Erase one person's data and destroy their key; answers with the signed receipt (DPO keys)",
          responses=errors(400, 404, 409, 415, 422), status_code=201)
    def erasure_create(self, request: Request[Any, Any, Any], data: JSONBody[ErasureBody], now: Now) -> ErasureAnswer:
        """409 while a legal hold covers the number or the account (the message names its reason
        and end date). Runs in batches, each committed: an interruption is finished by a new
        erasure of the same number or by ``govsms dsr resume``."""
        done = erase_subject(
            request.app.state.session_factory, request.scope["user"], request.app.state.holdings, data.number,
            sealer=sealer_of(request), request_id=data.request_id, unblock=data.unblock, now=now,
        )
        assert done.erasure.id is not None
        return ErasureAnswer(
            erasure_id=done.erasure.id, reference=done.request.reference, counts=done.counts,
            receipt=ReceiptFile(receipt=done.receipt, signature=done.signature.hex()),
        )

    @get("/api/v1/subjects/erasures/{erasure_id:int}/receipt", summary="The erasure's signed receipt file (DPO keys)",
         responses=errors(400, 404, 409, 422))
    def erasure_receipt(self, request: Request[Any, Any, Any], now: Now, erasure_id: Id) -> ReceiptFile:
        """The body is the receipt file byte for byte (canonical JSON): save it and check it with
        ``govsms dsr verify-receipt FILE --public-key KEY``. Recorded in the access log."""
        done = receipt_of(
            request.app.state.session_factory, request.scope["user"], request.app.state.holdings, erasure_id,
            sealer=sealer_of(request), now=now,
        )
        # Fields in sorted order and the receipt as parsed from its canonical JSON (keys sorted):
        # msgspec writes it compact, so the body is the canonical file (tests/subjects check it).
        return ReceiptFile(receipt=json.loads(canonical_json(done.receipt)), signature=done.signature.hex())


ROUTES = [SubjectApi]
