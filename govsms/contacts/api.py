"""HTTP API of contacts and groups (the Contract's ``/api/v1/contacts`` and ``/api/v1/groups``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Request, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body, JSONBody, KwargDefinition
from msgspec import UNSET, Struct, UnsetType
from msgspec import field as struct_field

from govsms.auth import Permission
from govsms.contacts import groups, importing, service
from govsms.contacts.limits import UploadLimits
from govsms.contacts.service import ContactView
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.paging import Page as ResultPage
from govsms.web.api import ApiController, Timestamp, errors
from govsms.web.forms import Db, Now, form_text
from govsms.web.guards import requires
from govsms.web.params import Id, IdFilter, IdList, IdValue, Page, PerPage, form_id

ContactName = Annotated[str, KwargDefinition(max_length=service.MAX_NAME)]
ContactNote = Annotated[str, KwargDefinition(max_length=service.MAX_NOTE)]
GroupName = Annotated[str, KwargDefinition(min_length=1, max_length=groups.MAX_NAME)]
GroupDescription = Annotated[str, KwargDefinition(description=f"Cut at {groups.MAX_DESCRIPTION} characters.")]


@dataclass
class ContactIn:
    number: str
    name: ContactName = ""
    note: ContactNote = ""
    group_ids: list[IdValue] = field(default_factory=list)


@dataclass
class ContactPatch:
    number: str | None = None
    name: ContactName | None = None
    note: ContactNote | None = None
    group_ids: list[IdValue] | None = None


@dataclass
class ContactSearch:
    number: str


@dataclass
class GroupIn:
    name: GroupName
    description: GroupDescription = ""


@dataclass
class MembersIn:
    contact_ids: list[IdValue]


class Contact(Struct):
    """An unreadable contact (no key, or a value that does not decrypt) has ``unreadable: true``
    and no number, name or note."""

    id: int
    number: str | None
    name: str | None
    note: str | None
    unreadable: bool
    group_ids: list[int]
    created_at: Timestamp
    updated_at: Timestamp


class ContactPage(Struct):
    items: list[Contact]
    total: int
    page: int
    per_page: int


class Group(Struct):
    id: int
    name: str | None
    """None when it cannot be read (``unreadable``)."""
    description: str
    members: int
    created_at: Timestamp
    unreadable: bool


class ImportInvalidRow(Struct):
    row: int
    input: str
    reason: str


class ImportDuplicateRow(Struct):
    row: int
    input: str
    first_row: int


class ContactImport(Struct):
    """What the file holds; after a real import (not ``dry_run``) also ``group_id``, ``created`` and ``in_group``."""

    rows: int
    valid: int
    existing: int
    invalid: list[ImportInvalidRow]
    duplicates: list[ImportDuplicateRow]
    dry_run: bool
    group_id: int | UnsetType = UNSET
    created: int | UnsetType = UNSET
    in_group: int | UnsetType = UNSET
    warnings: list[ImportInvalidRow] = struct_field(default_factory=list)
    """Valid rows whose number may not get SMS (landline and mobile numbers look alike in its
    country, VoIP, personal numbers): imported; ``reason`` says why."""


class MembersAdded(Struct):
    added: int


class MembersRemoved(Struct):
    removed: int


def contact_json(view: ContactView) -> Contact:
    unreadable = view.unreadable
    return Contact(
        id=view.id,
        number=None if unreadable else view.number,
        name=None if unreadable else view.name,
        note=None if unreadable else view.note,
        unreadable=unreadable,
        group_ids=list(view.group_ids),
        created_at=view.created_at.isoformat(),
        updated_at=view.updated_at.isoformat(),
    )


def page_json(result: ResultPage[ContactView]) -> ContactPage:
    return ContactPage(items=[contact_json(view) for view in result.items], total=result.total, page=result.page, per_page=result.per_page)


def group_json(summary: groups.GroupSummary) -> Group:
    group = summary.group
    return Group(id=group.id, name=None if group.unreadable else group.name, description=group.description,
                 members=summary.members, created_at=group.created_at.isoformat(), unreadable=group.unreadable)


def _summary(db: Db, actor: Any, group_id: int) -> groups.GroupSummary:
    return next(summary for summary in groups.list_groups(db, actor) if summary.group.id == group_id)


class ContactsApi(ApiController):
    guards = (requires(Permission.CONTACTS),)
    tags = ("contacts",)

    @get("/api/v1/contacts", summary="List contacts", responses=errors(400, 404, 422))
    def list_contacts(
        self, request: Request[Any, Any, Any], db: Db, now: Now, group_id: IdFilter = None, page: Page = 1, per_page: PerPage = 50,
    ) -> ContactPage:
        """To find a number, ``POST /api/v1/contacts/search``: a number in a URL stays in proxy logs."""
        if "number" in request.query_params:  # the old search: refused before anything is read
            raise ClientException(_(
                'Search by number with POST /api/v1/contacts/search and the body {"number": "..."}: a number in the URL '
                "would stay in proxy logs and browser histories."
            ), status_code=400)
        return page_json(service.list_contacts(db, request.scope["user"], group_id=group_id, page=page, per_page=per_page, now=now))

    @post("/api/v1/contacts/search", summary="Find the contact with a number", status_code=200, responses=errors(400, 415, 422))
    def search_contacts(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[ContactSearch], now: Now) -> ContactPage:
        """The contact with this number (exact match, any format), as a page of at most one."""
        if not data.number.strip():
            raise InvalidInput(_("Give the number to search for."), fields={"number": _("Give the number to search for.")})
        return page_json(service.list_contacts(db, request.scope["user"], number=data.number, now=now))

    @post("/api/v1/contacts", summary="Add a contact", responses=errors(400, 404, 409, 415, 422))
    def create_contact(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[ContactIn], now: Now) -> Contact:
        return contact_json(service.create_contact(
            db, request.scope["user"], number=data.number, name=data.name, note=data.note, group_ids=data.group_ids, now=now
        ))

    @get("/api/v1/contacts/{contact_id:int}", summary="One contact", responses=errors(400, 404, 422))
    def get_contact(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, now: Now) -> Contact:
        return contact_json(service.get_contact(db, request.scope["user"], contact_id, now=now))

    @patch("/api/v1/contacts/{contact_id:int}", summary="Change a contact", responses=errors(400, 404, 409, 415, 422))
    def update_contact(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, data: JSONBody[ContactPatch], now: Now) -> Contact:
        return contact_json(
            service.update_contact(
                db, request.scope["user"], contact_id, number=data.number, name=data.name, note=data.note, group_ids=data.group_ids, now=now
            )
        )

    @delete("/api/v1/contacts/{contact_id:int}", summary="Delete a contact", responses=errors(400, 404, 422))
    def delete_contact(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, now: Now) -> None:
        service.delete_contact(db, request.scope["user"], contact_id, now=now)

    @post("/api/v1/contacts/import", summary="Import a CSV or XLSX file into a group", responses=errors(400, 404, 409, 415, 422))
    def import_contacts(
        self, request: Request[Any, Any, Any], db: Db, data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)], now: Now
    ) -> ContactImport:
        """Multipart fields: ``file``; ``group_id`` or ``group_name``; ``dry_run=true`` for the preview only."""
        actor = request.scope["user"]
        upload = data.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput(_("Send the file in the field 'file'."), fields={"file": _("Choose a CSV or Excel file.")})
        limits = UploadLimits.from_settings(request.app.state.settings)
        plan = importing.plan_import(db, actor, upload.filename, upload.file.read(), now=now, limits=limits)
        found = ContactImport(
            rows=plan.rows_total,
            valid=len(plan.valid),
            existing=plan.existing,
            invalid=[ImportInvalidRow(row=row.row_number, input=row.input, reason=row.reason) for row in plan.invalid],
            duplicates=[ImportDuplicateRow(row=row.row_number, input=row.input, first_row=row.first_row) for row in plan.duplicates],
            dry_run=True,
            warnings=[ImportInvalidRow(row=row.row_number, input=row.input, reason=row.reason) for row in plan.warnings],
        )
        if str(data.get("dry_run", "")).lower() in ("1", "true", "yes"):
            return found
        result = importing.run_import(
            db, actor, plan, group_id=form_id(data, "group_id"), group_name=form_text(data, "group_name"), now=now
        )
        found.dry_run, found.group_id, found.created, found.in_group = False, result.group_id, result.created, result.in_group
        return found

    @get("/api/v1/groups", summary="List groups")
    def list_groups(self, request: Request[Any, Any, Any], db: Db) -> list[Group]:
        return [group_json(summary) for summary in groups.list_groups(db, request.scope["user"])]

    @post("/api/v1/groups", summary="Create a group", responses=errors(400, 409, 415, 422))
    def create_group(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[GroupIn], now: Now) -> Group:
        actor = request.scope["user"]
        group = groups.create_group(db, actor, name=data.name, description=data.description, now=now)
        return group_json(groups.GroupSummary(group=group, members=0))

    @get("/api/v1/groups/{group_id:int}", summary="One group", responses=errors(400, 404, 422))
    def get_group(self, request: Request[Any, Any, Any], db: Db, group_id: Id) -> Group:
        actor = request.scope["user"]
        groups.get_group(db, actor, group_id)
        return group_json(_summary(db, actor, group_id))

    @patch("/api/v1/groups/{group_id:int}", summary="Rename a group", responses=errors(400, 404, 409, 415, 422))
    def update_group(self, request: Request[Any, Any, Any], db: Db, group_id: Id, data: JSONBody[GroupIn], now: Now) -> Group:
        actor = request.scope["user"]
        groups.update_group(db, actor, group_id, name=data.name, description=data.description, now=now)
        return group_json(_summary(db, actor, group_id))

    @delete("/api/v1/groups/{group_id:int}", summary="Delete a group (its contacts stay)", responses=errors(400, 404, 422))
    def delete_group(self, request: Request[Any, Any, Any], db: Db, group_id: Id, now: Now) -> None:
        groups.delete_group(db, request.scope["user"], group_id, now=now)

    @get("/api/v1/groups/{group_id:int}/members", summary="Members of a group", responses=errors(400, 404, 422))
    def list_members(
        self, request: Request[Any, Any, Any], db: Db, group_id: Id, now: Now, page: Page = 1, per_page: PerPage = 50
    ) -> ContactPage:
        return page_json(service.list_contacts(db, request.scope["user"], group_id=group_id, page=page, per_page=per_page, now=now))

    @post("/api/v1/groups/{group_id:int}/members", summary="Add contacts to a group", responses=errors(400, 404, 415, 422))
    def add_members(self, request: Request[Any, Any, Any], db: Db, group_id: Id, data: JSONBody[MembersIn], now: Now) -> MembersAdded:
        return MembersAdded(added=groups.add_members(db, request.scope["user"], group_id, data.contact_ids, now=now))

    @delete(
        "/api/v1/groups/{group_id:int}/members", summary="Remove contacts from a group", status_code=200, responses=errors(400, 404, 422),
    )
    def remove_members(self, request: Request[Any, Any, Any], db: Db, group_id: Id, contact_ids: IdList, now: Now) -> MembersRemoved:
        """``?contact_ids=1&contact_ids=2``"""
        return MembersRemoved(removed=groups.remove_members(db, request.scope["user"], group_id, contact_ids, now=now))


ROUTES = [ContactsApi]
