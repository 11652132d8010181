"""HTTP API of contacts and groups (the Contract's ``/api/v1/contacts`` and ``/api/v1/groups``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body, JSONBody

from govsms.auth import Permission
from govsms.contacts import groups, importing, service
from govsms.contacts.limits import UploadLimits
from govsms.contacts.service import ContactView
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.paging import Page
from govsms.web.forms import Db, form_text
from govsms.web.guards import requires
from govsms.web.params import Id, IdFilter, IdList, IdValue, Page, PerPage, form_id

CONTACTS = [requires(Permission.CONTACTS)]
TAGS = ["contacts"]


@dataclass
class ContactIn:
    number: str
    name: str = ""
    note: str = ""
    group_ids: list[IdValue] = field(default_factory=list)


@dataclass
class ContactPatch:
    number: str | None = None
    name: str | None = None
    note: str | None = None
    group_ids: list[IdValue] | None = None


@dataclass
class ContactSearch:
    number: str


@dataclass
class GroupIn:
    name: str
    description: str = ""


@dataclass
class MembersIn:
    contact_ids: list[IdValue]


def _now() -> datetime:
    return datetime.now(UTC)


def contact_json(view: ContactView) -> dict[str, Any]:
    """An unreadable contact (no key, or a value that does not decrypt) has ``unreadable: true``
    and no number, name or note."""
    return {
        "id": view.id,
        "number": None if view.unreadable else view.number,
        "name": None if view.unreadable else view.name,
        "note": None if view.unreadable else view.note,
        "unreadable": view.unreadable,
        "group_ids": list(view.group_ids),
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
    }


def page_json(result: Page[ContactView]) -> dict[str, Any]:
    return {"items": [contact_json(view) for view in result.items], "total": result.total, "page": result.page, "per_page": result.per_page}


@get("/api/v1/contacts", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="List contacts")
def list_contacts(
    request: Request[Any, Any, Any], db: Db, group_id: IdFilter = None, page: Page = 1, per_page: PerPage = 50,
) -> dict[str, Any]:
    """To find a number, ``POST /api/v1/contacts/search``: a number in a URL stays in proxy logs."""
    if "number" in request.query_params:  # the old search: refused before anything is read
        raise ClientException(_(
            'Search by number with POST /api/v1/contacts/search and the body {"number": "..."}: a number in the URL '
            "would stay in proxy logs and browser histories."
        ), status_code=400)
    return page_json(service.list_contacts(db, request.scope["user"], group_id=group_id, page=page, per_page=per_page, now=_now()))


@post("/api/v1/contacts/search", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Find the contact with a number", status_code=200)
def search_contacts(request: Request[Any, Any, Any], db: Db, data: JSONBody[ContactSearch]) -> dict[str, Any]:
    """The contact with this number (exact match, any format), as a page of at most one."""
    if not data.number.strip():
        raise InvalidInput(_("Give the number to search for."), fields={"number": _("Give the number to search for.")})
    return page_json(service.list_contacts(db, request.scope["user"], number=data.number, now=_now()))


@post("/api/v1/contacts", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Add a contact")
def create_contact(request: Request[Any, Any, Any], db: Db, data: JSONBody[ContactIn]) -> dict[str, Any]:
    return contact_json(service.create_contact(db, request.scope["user"], number=data.number, name=data.name, note=data.note, group_ids=data.group_ids, now=_now()))


@get("/api/v1/contacts/{contact_id:int}", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="One contact")
def get_contact(request: Request[Any, Any, Any], db: Db, contact_id: Id) -> dict[str, Any]:
    return contact_json(service.get_contact(db, request.scope["user"], contact_id, now=_now()))


@patch("/api/v1/contacts/{contact_id:int}", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Change a contact")
def update_contact(request: Request[Any, Any, Any], db: Db, contact_id: Id, data: JSONBody[ContactPatch]) -> dict[str, Any]:
    return contact_json(
        service.update_contact(
            db, request.scope["user"], contact_id, number=data.number, name=data.name, note=data.note, group_ids=data.group_ids, now=_now()
        )
    )


@delete("/api/v1/contacts/{contact_id:int}", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Delete a contact")
def delete_contact(request: Request[Any, Any, Any], db: Db, contact_id: Id) -> None:
    service.delete_contact(db, request.scope["user"], contact_id, now=_now())


@post("/api/v1/contacts/import", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Import a CSV or XLSX file into a group")
def import_contacts(
    request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
) -> dict[str, Any]:
    """Multipart fields: ``file``; ``group_id`` or ``group_name``; ``dry_run=true`` for the preview only."""
    actor = request.scope["user"]
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput(_("Send the file in the field 'file'."), fields={"file": _("Choose a CSV or Excel file.")})
    limits = UploadLimits.from_settings(request.app.state.settings)
    plan = importing.plan_import(db, actor, upload.filename, upload.file.read(), now=_now(), limits=limits)
    body: dict[str, Any] = {
        "rows": plan.rows_total,
        "valid": len(plan.valid),
        "existing": plan.existing,
        "invalid": [{"row": row.row_number, "input": row.input, "reason": row.reason} for row in plan.invalid],
        "duplicates": [{"row": row.row_number, "input": row.input, "first_row": row.first_row} for row in plan.duplicates],
    }
    if str(data.get("dry_run", "")).lower() in ("1", "true", "yes"):
        return {**body, "dry_run": True}
    result = importing.run_import(
        db, actor, plan, group_id=form_id(data, "group_id"), group_name=form_text(data, "group_name"), now=_now()
    )
    return {**body, "dry_run": False, "group_id": result.group_id, "created": result.created, "in_group": result.in_group}


def group_json(summary: groups.GroupSummary) -> dict[str, Any]:
    group = summary.group
    return {"id": group.id, "name": None if group.unreadable else group.name, "description": group.description,
            "members": summary.members, "created_at": group.created_at.isoformat(), "unreadable": group.unreadable}


def _summary(db: Db, actor: Any, group_id: int) -> groups.GroupSummary:
    return next(summary for summary in groups.list_groups(db, actor) if summary.group.id == group_id)


@get("/api/v1/groups", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="List groups")
def list_groups(request: Request[Any, Any, Any], db: Db) -> list[dict[str, Any]]:
    return [group_json(summary) for summary in groups.list_groups(db, request.scope["user"])]


@post("/api/v1/groups", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Create a group")
def create_group(request: Request[Any, Any, Any], db: Db, data: JSONBody[GroupIn]) -> dict[str, Any]:
    actor = request.scope["user"]
    group = groups.create_group(db, actor, name=data.name, description=data.description, now=_now())
    return group_json(groups.GroupSummary(group=group, members=0))


@get("/api/v1/groups/{group_id:int}", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="One group")
def get_group(request: Request[Any, Any, Any], db: Db, group_id: Id) -> dict[str, Any]:
    actor = request.scope["user"]
    groups.get_group(db, actor, group_id)
    return group_json(_summary(db, actor, group_id))


@patch("/api/v1/groups/{group_id:int}", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Rename a group")
def update_group(request: Request[Any, Any, Any], db: Db, group_id: Id, data: JSONBody[GroupIn]) -> dict[str, Any]:
    actor = request.scope["user"]
    groups.update_group(db, actor, group_id, name=data.name, description=data.description, now=_now())
    return group_json(_summary(db, actor, group_id))


@delete("/api/v1/groups/{group_id:int}", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Delete a group (its contacts stay)")
def delete_group(request: Request[Any, Any, Any], db: Db, group_id: Id) -> None:
    groups.delete_group(db, request.scope["user"], group_id, now=_now())


@get("/api/v1/groups/{group_id:int}/members", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Members of a group")
def list_members(
    request: Request[Any, Any, Any], db: Db, group_id: Id, page: Page = 1, per_page: PerPage = 50
) -> dict[str, Any]:
    return page_json(service.list_contacts(db, request.scope["user"], group_id=group_id, page=page, per_page=per_page, now=_now()))


@post("/api/v1/groups/{group_id:int}/members", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Add contacts to a group")
def add_members(request: Request[Any, Any, Any], db: Db, group_id: Id, data: JSONBody[MembersIn]) -> dict[str, Any]:
    return {"added": groups.add_members(db, request.scope["user"], group_id, data.contact_ids, now=_now())}


@delete("/api/v1/groups/{group_id:int}/members", guards=CONTACTS, sync_to_thread=True, tags=TAGS, summary="Remove contacts from a group", status_code=200)
def remove_members(request: Request[Any, Any, Any], db: Db, group_id: Id, contact_ids: IdList) -> dict[str, Any]:
    """``?contact_ids=1&contact_ids=2``"""
    return {"removed": groups.remove_members(db, request.scope["user"], group_id, contact_ids, now=_now())}


ROUTES = [
    list_contacts, search_contacts, create_contact, get_contact, update_contact, delete_contact, import_contacts,
    list_groups, create_group, get_group, update_group, delete_group, list_members, add_members, remove_members,
]
