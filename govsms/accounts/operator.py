"""The provider operator's pages: customer accounts (created with their first administrator,
edited, suspended and reactivated; organisation numbers checked), and the security policy (roles
that must use two-step login)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from sqlalchemy import event
from litestar.response import Redirect, Template

from govsms.accounts import customers, service, totp
from govsms.auth import Actor, Permission, Role, require
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _
from govsms.web.controller import PageController
from govsms.web.forms import Db, Now, Form, form_list, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Id
from govsms.web.render import NavItem, page

NAV = [
    NavItem(N_("Customer accounts"), "/operator/accounts", Permission.PLATFORM),
    NavItem(N_("Security"), "/operator/security", Permission.PLATFORM),
]
ACCOUNT_FIELDS = ("name", "org_number", "billing_address", "billing_email", "admin_email", "ops_email")
FIRST_ADMIN_FIELDS = {"email": "first_admin_email", "password": "first_admin_password", "display_name": "first_admin_name"}
NOTICES = {
    "saved": N_("The account's details were saved."),
    "suspended": N_("The account is suspended: its users cannot log in and its API keys are refused, so nothing more is sent in its name."),
    "reactivated": N_("The account is active again: its users can log in and its API keys work."),
}


def _accounts_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    actor: Actor = request.scope["user"]
    context.setdefault("form", {})
    context.setdefault("errors", {})
    return page(
        request, "accounts/operator_accounts.html", status_code=status_code, accounts=service.list_account_summaries(db, actor), **context
    )


def _account_page(request: Request[Any, Any, Any], db: Db, account_id: int, *, status_code: int = 200, **context: Any) -> Template:
    account = customers.get_customer_account(db, request.scope["user"], account_id)
    context.setdefault("form", {name: getattr(account, name) or "" for name in ACCOUNT_FIELDS})
    context.setdefault("errors", {})
    return page(request, "accounts/operator_account.html", status_code=status_code, account=account, **context)


class OperatorAccountPages(PageController):
    """The provider operator's pages of accounts: customer accounts and the security policy."""

    guards = (users_only, requires(Permission.PLATFORM))

    @get("/operator/accounts")
    def accounts_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        created = request.query_params.get("created") == "1"
        return _accounts_page(request, db, notice=N_("The account and its first administrator were created.") if created else None)

    @post("/operator/accounts")
    def accounts_create(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        actor: Actor = request.scope["user"]
        form = {name: form_text(data, name) for name in (*ACCOUNT_FIELDS, "first_admin_email", "first_admin_name")}
        try:
            require(actor, Permission.PLATFORM)
            try:
                org_number = customers.normalise_org_number(form["org_number"])
            except InvalidInput as refused:
                raise InvalidInput(_("The account could not be created."), fields=refused.fields) from None
            account = service.create_account(
                db,
                name=form["name"],
                org_number=org_number,
                billing_address=form["billing_address"],
                billing_email=form["billing_email"],
                admin_email=form["admin_email"],
                ops_email=form["ops_email"],
                now=now,
                actor=actor,
            )
            assert account.id is not None  # created and flushed
            service.create_user(
                db,
                Actor.system(account.id, account.name),
                email=form["first_admin_email"],
                display_name=form["first_admin_name"],
                password=form_text(data, "first_admin_password"),
                roles={Role.ADMIN},
                now=now,
            )
        except GovsmsError as refused:
            reasons = refused_form(refused, db)
            reasons["errors"] = {FIRST_ADMIN_FIELDS.get(key, key): value for key, value in reasons["errors"].items()}
            return _accounts_page(request, db, form=form, **reasons)
        return Redirect("/operator/accounts?created=1", status_code=303)

    @get("/operator/accounts/{account_id:int}")
    def account_page(self, request: Request[Any, Any, Any], db: Db, account_id: Id) -> Template:
        done = request.query_params.get("done", "")
        return _account_page(request, db, account_id, notice=NOTICES.get(done))

    @post("/operator/accounts/{account_id:int}")
    def account_save(self, request: Request[Any, Any, Any], db: Db, account_id: Id, data: Form, now: Now) -> Template | Redirect:
        form = {name: form_text(data, name) for name in ACCOUNT_FIELDS}
        try:
            customers.update_account(db, request.scope["user"], account_id, values=form, now=now)
        except GovsmsError as refused:
            return _account_page(request, db, account_id, form=form, **refused_form(refused, db))
        return Redirect(f"/operator/accounts/{account_id}?done=saved", status_code=303)

    @post("/operator/accounts/{account_id:int}/status")
    def account_status(self, request: Request[Any, Any, Any], db: Db, account_id: Id, data: Form, now: Now) -> Template | Redirect:
        """Suspend or reactivate. Suspending takes a second step (``confirm``): the first shows what
        it does and asks again; it works without JavaScript."""
        action = form_text(data, "action")
        if action not in ("suspend", "reactivate"):
            return _account_page(request, db, account_id, status_code=422, error=_("Choose to suspend or to reactivate the account."))
        if action == "suspend" and form_text(data, "confirm") != "yes":
            return _account_page(request, db, account_id, confirm_suspend=True)
        try:
            customers.set_account_active(db, request.scope["user"], account_id, active=action == "reactivate", now=now)
        except GovsmsError as refused:
            return _account_page(request, db, account_id, **refused_form(refused, db))
        # Its API keys stop working at once in this process (other processes: within the cache's
        # few seconds): emptied now and again once the change has committed.
        cache = request.app.state.actor_cache
        cache.clear()
        event.listen(db, "after_commit", lambda _session: cache.clear(), once=True)
        return Redirect(f"/operator/accounts/{account_id}?done={'reactivated' if action == 'reactivate' else 'suspended'}", status_code=303)

    @get("/operator/security")
    def security_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        saved = request.query_params.get("saved") == "1"
        return page(
            request, "accounts/operator_security.html", roles=list(Role), required=[role.value for role in totp.required_roles(db)],
            notice=N_("Saved. Users of these roles without two-step login were logged out.") if saved else None,
        )

    @post("/operator/security")
    def security_save(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Redirect:
        known = {role.value for role in Role}
        roles = {Role(name) for name in form_list(data, "roles") if name in known}
        totp.set_required_roles(db, request.scope["user"], roles, now=now)
        return Redirect("/operator/security?saved=1", status_code=303)


ROUTES = [OperatorAccountPages]
