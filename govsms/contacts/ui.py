"""Admin UI of contacts and groups: search, add, edit, delete, import with preview, export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from govsms.auth import Permission
from govsms.contacts import groups, importing, service
from govsms.contacts.limits import UploadLimits
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _
from govsms.web.controller import PageController
from govsms.web.context import separate_reader
from govsms.web.forms import FORM_REFUSALS, Db, Now, Form, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Count, Id, IdFilter, PageNumber, form_id, form_ids
from govsms.web.render import NavItem, page

NAV = [
    NavItem(N_("Contacts"), "/contacts", Permission.CONTACTS),
    NavItem(N_("Groups"), "/groups", Permission.CONTACTS),
]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
PREVIEW_ROWS = 500

NOTICES = {
    "created": N_("The contact was saved."),
    "saved": N_("The changes were saved."),
    "deleted": N_("The contact was deleted."),
    "group_created": N_("The group was created."),
    "group_deleted": N_("The group was deleted; its contacts are still in your contacts."),
    "removed": N_("The contact was removed from the group."),
    "imported": N_("The import is done."),
}


def _contacts_page(
    request: Request[Any, Any, Any], db: Db, *, page_number: int = 1, number: str = "", status_code: int = 200, now: datetime, **context: Any
) -> Template:
    actor = request.scope["user"]
    context.setdefault("form", {})
    context.setdefault("errors", {})
    contacts = None
    try:
        contacts = service.list_contacts(db, actor, now=now, page=page_number, number=number or None)
    except GovsmsError as refused:
        if refused.status_code not in FORM_REFUSALS:
            raise
        context["errors"] = {**context["errors"], "search": refused.fields.get("number", refused.message)}
        status_code = 422
    return page(
        request, "contacts/contacts.html", status_code=status_code, contacts=contacts, number=number,
        groups=groups.list_groups(db, actor), **context,
    )


def _confirm_contact_delete(request: Request[Any, Any, Any], db: Db, contact_id: int, *, now: datetime) -> Template:
    contact = service.get_contact(db, request.scope["user"], contact_id, now=now)  # shown: a read in the access log
    who = _("a contact that cannot be read") if contact.unreadable else (
        f"{contact.name} ({contact.number})" if contact.name else contact.number
    )
    return page(
        request, "web/confirm.html", title=_("Delete contact"), back=f"/contacts/{contact_id}", back_label=_("Back to the contact"),
        question=_(
            "Delete %(who)s? The contact leaves every group. SMS already sent and the access log are kept. This cannot be undone."
        ) % {"who": who},
        action=f"/contacts/{contact_id}/delete", button=_("Yes, delete the contact"),
    )


def _confirm_group_delete(request: Request[Any, Any, Any], db: Db, group_id: int) -> Template:
    group = groups.get_group(db, request.scope["user"], group_id)
    name = _("cannot be read") if group.unreadable else group.name
    return page(
        request, "web/confirm.html", title=_("Delete group"), back=f"/groups/{group_id}", back_label=_("Back to the group"),
        question=_("Delete the group “%(name)s”? Its contacts stay in your contacts. This cannot be undone.") % {"name": name},
        action=f"/groups/{group_id}/delete", button=_("Yes, delete the group"),
    )


class ContactPages(PageController):
    """Contacts: the list, the search by number, one contact, the export."""

    guards = (users_only, requires(Permission.CONTACTS))

    @get("/contacts")
    def contacts_page(self, request: Request[Any, Any, Any], db: Db, now: Now, page_number: PageNumber = 1, done: FromQuery[str] = "") -> Template:
        if "number" in request.query_params:  # the old search form: refused before anything is read
            raise ClientException(_(
                "A search by number is sent with the search form (POST), never in the address, where browser histories and "
                "proxy logs would keep it. Use the search form on the contacts page."
            ), status_code=400)
        return _contacts_page(request, db, page_number=page_number, notice=NOTICES.get(done), now=now)

    @post("/contacts/search")
    def contacts_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """A search by number: the number comes in the form, so no URL (history, proxy log) holds it."""
        return _contacts_page(request, db, number=form_text(data, "number").strip(), now=now)

    @post("/contacts")
    def contacts_create(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        form = {"number": form_text(data, "number"), "name": form_text(data, "name"), "note": form_text(data, "note")}
        try:
            created = service.create_contact(db, request.scope["user"], group_ids=form_ids(data, "group_ids"), now=now, **form)
        except GovsmsError as refused:  # "already a contact" keeps its access-log event
            return _contacts_page(request, db, form=form, now=now, **refused_form(refused, db))
        return Redirect(f"/contacts/{created.id}?done=created", status_code=303)

    @get("/contacts/{contact_id:int}")
    def contact_page(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, now: Now, done: FromQuery[str] = "") -> Template:
        actor = request.scope["user"]
        contact = service.get_contact(db, actor, contact_id, now=now)
        return page(
            request, "contacts/contact.html", contact=contact, groups=groups.list_groups(db, actor), errors={}, notice=NOTICES.get(done)
        )

    @post("/contacts/{contact_id:int}")
    def contact_update(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, data: Form, now: Now) -> Template | Redirect:
        actor = request.scope["user"]
        try:
            service.update_contact(
                db, actor, contact_id, number=form_text(data, "number"), name=form_text(data, "name"),
                note=form_text(data, "note"), group_ids=form_ids(data, "group_ids"), now=now,
            )
        except GovsmsError as refused:
            reasons = refused_form(refused, db)  # "already a contact" keeps its access-log event
            contact = service.get_contact(db, actor, contact_id, now=now)
            return page(request, "contacts/contact.html", contact=contact, groups=groups.list_groups(db, actor), **reasons)
        return Redirect(f"/contacts/{contact_id}?done=saved", status_code=303)

    @get("/contacts/{contact_id:int}/delete")
    def contact_delete_page(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, now: Now) -> Template:
        """The confirmation step before a deletion: a page of its own, so it needs no JavaScript."""
        return _confirm_contact_delete(request, db, contact_id, now=now)

    @post("/contacts/{contact_id:int}/delete")
    def contact_delete(self, request: Request[Any, Any, Any], db: Db, contact_id: Id, data: Form, now: Now) -> Template | Redirect:
        if form_text(data, "confirm") != "1":  # not sent from the confirmation page: ask first
            return _confirm_contact_delete(request, db, contact_id, now=now)
        service.delete_contact(db, request.scope["user"], contact_id, now=now)
        return Redirect("/contacts?done=deleted", status_code=303)

    @get("/contacts/export")
    def contacts_export(
        self, request: Request[Any, Any, Any], db: Db, now: Now, format: FromQuery[str] = "xlsx", group_id: IdFilter = None
    ) -> Response[bytes]:
        filename, content = service.export_contacts(db, request.scope["user"], file_format=format, group_id=group_id, now=now)
        media = "text/csv; charset=utf-8" if format == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            content, media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )


# -- import --------------------------------------------------------------------------------------


class ImportPages(PageController):
    """Importing a file of contacts: upload, preview, confirm."""

    guards = (users_only, requires(Permission.CONTACTS))

    @get("/contacts/import")
    def import_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return page(request, "contacts/import.html", groups=groups.list_groups(db, request.scope["user"]), errors={})

    @post("/contacts/import")
    def import_upload(self, request: Request[Any, Any, Any], db: Db, data: Upload, now: Now) -> Template:
        actor = request.scope["user"]
        upload = data.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise InvalidInput(_("Choose a file to upload."), fields={"file": _("Choose a CSV or Excel file.")})
            group_id = form_id(data, "group_id")
            if group_id is not None:  # carried to the preview: a group of another account is refused here too
                groups.get_group(db, actor, group_id)
            content = upload.file.read()
            limits = UploadLimits.from_settings(request.app.state.settings)
            plan = importing.plan_import(db, actor, upload.filename, content, now=now, limits=limits)
        except GovsmsError as refused:
            reasons = refused_form(refused)
            reasons["errors"] = reasons["errors"] or {"file": refused.message}  # the file as a whole
            return page(request, "contacts/import.html", groups=groups.list_groups(db, actor), **reasons)
        token = importing.store_upload(db, actor, upload.filename, content, now=now)
        return page(
            request, "contacts/import_preview.html", plan=plan, token=token, groups=groups.list_groups(db, actor),
            group_id=form_text(data, "group_id"), group_name=form_text(data, "group_name"),
            preview_rows=PREVIEW_ROWS, errors={},
        )

    @post("/contacts/import/{token:str}")
    def import_confirm(self, request: Request[Any, Any, Any], db: Db, token: FromPath[str], data: Form, now: Now) -> Template | Redirect:
        actor = request.scope["user"]
        # Read with a separate session: the file is parsed (a child process) before this request's
        # write transaction begins, so on SQLite no writer waits on the parse.
        with separate_reader(request.app.state) as reader:
            filename, content = importing.load_upload(reader or db, actor, token, now=now, writer=db)
        limits = UploadLimits.from_settings(request.app.state.settings)
        plan = importing.plan_import(db, actor, filename, content, now=now, limits=limits)
        group_id = form_text(data, "group_id")
        try:
            result = importing.run_import(
                db, actor, plan, group_id=form_id(data, "group_id"), group_name=form_text(data, "group_name"), now=now,
            )
        except GovsmsError as refused:
            reasons = refused_form(refused, db)
            importing.record_checked(db, actor, plan, now=now)  # the preview is shown again: so is its count
            return page(
                request, "contacts/import_preview.html", plan=plan, token=token, groups=groups.list_groups(db, actor),
                group_id=group_id, group_name=form_text(data, "group_name"), preview_rows=PREVIEW_ROWS, **reasons,
            )
        importing.discard_upload(db, actor, token)
        return Redirect(
            f"/groups/{result.group_id}?done=imported&created={result.created}&existing={result.existing}", status_code=303
        )


# -- groups --------------------------------------------------------------------------------------


class GroupPages(PageController):
    """Groups of contacts and their members."""

    guards = (users_only, requires(Permission.CONTACTS))

    @get("/groups")
    def groups_page(self, request: Request[Any, Any, Any], db: Db, done: FromQuery[str] = "") -> Template:
        return page(request, "contacts/groups.html", groups=groups.list_groups(db, request.scope["user"]), form={}, errors={}, notice=NOTICES.get(done))

    @post("/groups")
    def groups_create(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        actor = request.scope["user"]
        form = {"name": form_text(data, "name"), "description": form_text(data, "description")}
        try:
            group = groups.create_group(db, actor, now=now, **form)
        except GovsmsError as refused:
            reasons = refused_form(refused, db)
            return page(request, "contacts/groups.html", groups=groups.list_groups(db, actor), form=form, **reasons)
        return Redirect(f"/groups/{group.id}?done=group_created", status_code=303)

    @get("/groups/{group_id:int}")
    def group_page(
        self, request: Request[Any, Any, Any], db: Db, group_id: Id, now: Now, page_number: PageNumber = 1,
        done: FromQuery[str] = "", created: Count = 0, existing: Count = 0,
    ) -> Template:
        actor = request.scope["user"]
        group = groups.get_group(db, actor, group_id)
        members = service.list_contacts(db, actor, group_id=group_id, page=page_number, now=now)
        return page(
            request, "contacts/group.html", group=group, members=members, errors={}, notice=NOTICES.get(done),
            imported={"created": created, "existing": existing} if done == "imported" else None,
        )

    @post("/groups/{group_id:int}")
    def group_update(self, request: Request[Any, Any, Any], db: Db, group_id: Id, data: Form, now: Now) -> Redirect:
        groups.update_group(
            db, request.scope["user"], group_id, name=form_text(data, "name"), description=form_text(data, "description"), now=now
        )
        return Redirect(f"/groups/{group_id}?done=saved", status_code=303)

    @get("/groups/{group_id:int}/delete")
    def group_delete_page(self, request: Request[Any, Any, Any], db: Db, group_id: Id) -> Template:
        """The confirmation step before a deletion: a page of its own, so it needs no JavaScript."""
        return _confirm_group_delete(request, db, group_id)

    @post("/groups/{group_id:int}/delete")
    def group_delete(self, request: Request[Any, Any, Any], db: Db, group_id: Id, data: Form, now: Now) -> Template | Redirect:
        if form_text(data, "confirm") != "1":  # not sent from the confirmation page: ask first
            return _confirm_group_delete(request, db, group_id)
        groups.delete_group(db, request.scope["user"], group_id, now=now)
        return Redirect("/groups?done=group_deleted", status_code=303)

    @post("/groups/{group_id:int}/members/remove")
    def group_remove_member(self, request: Request[Any, Any, Any], db: Db, group_id: Id, data: Form, now: Now) -> Redirect:
        groups.remove_members(db, request.scope["user"], group_id, form_ids(data, "contact_id"), now=now)
        return Redirect(f"/groups/{group_id}?done=removed", status_code=303)


ROUTES = [ContactPages, ImportPages, GroupPages]
