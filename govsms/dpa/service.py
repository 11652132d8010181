"""The account's DPA: the details its admin fills in, generating versions, downloading and
accepting them. Every version is kept; generation, download and acceptance are audited with the
PDF's SHA-256."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy.orm import QueryableAttribute, defer
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from govsms.auth import Actor, Permission, require
from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.keys.crypto import DecryptionError, SealedField, seal_field, unseal_field
from govsms.dpa.annexes import Change, ProviderNotConfigured, annexes_hash, build_annexes, canonical, changes_between
from govsms.dpa.models import DPA_DETAILS, DPA_VERSION_ACCEPTANCE, DPA_VERSION_DETAILS, DPA_VERSION_PDF, DpaDetails, DpaVersion
from govsms.dpa.render import render_html, render_pdf
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import LANGUAGES, _
from govsms.keys.ring import KeyRing
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.personal_data import Holding
from govsms.settings import Settings
from govsms.tenancy import get_scoped, owned_by, scoped
from govsms.textfield import single_line
from govsms.audit.unreadable import ALTERED, CANNOT_BE_READ, UnreadableRow, record_unreadable

DETAIL_FIELDS = ("signatory_name", "signatory_title", "contact_name", "contact_email", "contact_phone", "dpo_name", "dpo_email")
REQUIRED = ("signatory_name", "signatory_title", "contact_name", "contact_email")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class DpaStatus:
    versions: list[DpaVersion]
    latest: DpaVersion | None
    accepted: DpaVersion | None
    """The newest accepted version."""
    changes: list[Change]
    """What today's annexes say differently from the latest version's."""
    configured: bool
    """The provider's details are set (else nothing can be generated)."""

    @property
    def new_version_available(self) -> bool:
        return self.latest is not None and bool(self.changes)


def _key(session: Session, account_id: int, now: datetime) -> bytes:
    return vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=now)


def _account(session: Session, actor: Actor) -> Account:
    account = session.get(Account, actor.account_id)
    if account is None:
        raise NotFound(_("No such account."))
    return account


# -- details (Annex I) -------------------------------------------------------------------------


class DetailsUnreadable(Conflict):
    """The saved details do not decrypt (altered in the database): enter them again."""

    def __init__(self) -> None:
        super().__init__(
            _("The saved signatory and contact details cannot be read any more. Enter them again on the page /dpa and save them; that replaces them."),
            recorded=True,
        )


class VersionUnreadable(Conflict):
    def __init__(self) -> None:
        super().__init__(
            _("This version cannot be read: its stored document does not decrypt. An administrator can generate a new version at /dpa."),
            recorded=True,
        )


def _unseal_json(key: bytes, field: SealedField, account_id: int, owner_id: int, blob: bytes) -> Any:
    """The sealed JSON value, or None when it cannot be read."""
    try:
        return json.loads(unseal_field(key, field, account_id, owner_id, blob))
    except (DecryptionError, UnicodeDecodeError, ValueError):
        return None


def _record_unreadable(session: Session, actor: Actor, table: str, row_id: int, now: datetime) -> None:
    record_unreadable(session, actor, [UnreadableRow(table, row_id, None, ALTERED)], now=now)


def _decrypt_details(session: Session, actor: Actor, row: DpaDetails | None, now: datetime) -> dict[str, str] | None:
    """The details (empty when none are saved), or None when the saved ones cannot be read."""
    if row is None:
        return {field: "" for field in DETAIL_FIELDS}
    stored = _unseal_json(_key(session, actor.account_id, now), DPA_DETAILS, actor.account_id, actor.account_id, row.details_ct)
    if not isinstance(stored, dict):
        return None
    return {field: str(stored.get(field, "")) for field in DETAIL_FIELDS}


def read_details(session: Session, actor: Actor, *, now: datetime) -> tuple[dict[str, str], bool]:
    """The filled-in signatory, contact and DPO (people's names: reading them is audited), and
    whether the saved ones cannot be read (then empty values, and a ``data.unreadable`` event)."""
    require(actor, Permission.DPA_READ)
    row = session.get(DpaDetails, actor.account_id)
    if row is not None:
        record_event(session, actor, Action.DPA_DETAILS_VIEWED, now=now, target=("account", actor.account_id))
    details = _decrypt_details(session, actor, row, now)
    if details is None:
        _record_unreadable(session, actor, "dpa_details", actor.account_id, now)
        return {field: "" for field in DETAIL_FIELDS}, True
    return details, False


def get_details(session: Session, actor: Actor, *, now: datetime) -> dict[str, str]:
    """The filled-in details; ``DetailsUnreadable`` (409, its event recorded) when they cannot be read."""
    details, unreadable = read_details(session, actor, now=now)
    if unreadable:
        raise DetailsUnreadable()
    return details


def check_details(values: dict[str, str]) -> dict[str, str]:
    cleaned = {field: single_line(str(values.get(field) or ""), field) for field in DETAIL_FIELDS}
    errors: dict[str, str] = {}
    for field in REQUIRED:
        if not cleaned[field]:
            errors[field] = _("Fill this in: the agreement names this person.")
    for field in DETAIL_FIELDS:
        if len(cleaned[field]) > 200:
            errors[field] = _("At most 200 characters.")
    for field in ("contact_email", "dpo_email"):
        if cleaned[field] and not EMAIL.match(cleaned[field]):
            errors[field] = _("Give an email address such as name@example.se.")
    if errors:
        raise InvalidInput(_("The details were not saved."), fields=errors)
    return cleaned


def save_details(session: Session, actor: Actor, values: dict[str, str], *, now: datetime) -> dict[str, str]:
    require(actor, Permission.DPA_ACCEPT)
    cleaned = check_details(values)
    blob = seal_field(
        _key(session, actor.account_id, now), DPA_DETAILS, actor.account_id, actor.account_id, json.dumps(cleaned, sort_keys=True)
    )
    row = session.get(DpaDetails, actor.account_id) or DpaDetails(account_id=actor.account_id, details_ct=b"", updated_by=actor.label, updated_at=now)
    row.details_ct, row.updated_by, row.updated_at = blob, actor.label, now
    session.add(row)
    session.flush()
    record_event(session, actor, Action.DPA_DETAILS_SAVED, now=now, target=("account", actor.account_id))
    return cleaned


# -- versions ----------------------------------------------------------------------------------


# Lists show versions; their sealed PDFs and details load only when one is opened.
# (SQLModel types the columns as their values; on the class they are ORM attributes.)
_WITHOUT_BLOBS = [
    defer(cast(QueryableAttribute[Any], column)) for column in (DpaVersion.pdf_ct, DpaVersion.details_ct, DpaVersion.annexes)
]


def list_versions(session: Session, actor: Actor) -> list[DpaVersion]:
    require(actor, Permission.DPA_READ)
    query: SelectOfScalar[DpaVersion] = scoped(DpaVersion, actor).options(*_WITHOUT_BLOBS)
    return list(session.exec(query.order_by(col(DpaVersion.number).desc())))


def newest_version(session: Session, actor: Actor, *, lang: str | None = None) -> DpaVersion | None:
    """The account's newest version (in ``lang`` when given)."""
    require(actor, Permission.DPA_READ)
    query: SelectOfScalar[DpaVersion] = scoped(DpaVersion, actor).options(*_WITHOUT_BLOBS)
    if lang is not None:
        query = query.where(DpaVersion.language == _check_language(lang))
    return session.exec(query.order_by(col(DpaVersion.number).desc())).first()


def _id_of(version: DpaVersion) -> int:
    assert version.id is not None  # a stored version: read from the database, or flushed
    return version.id


def get_version(session: Session, actor: Actor, version_id: int) -> DpaVersion:
    require(actor, Permission.DPA_READ)
    return get_scoped(session, DpaVersion, version_id, actor, missing=_("No such version of the agreement."))


def dpa_status(session: Session, settings: Settings, keys: KeyRing, actor: Actor, *, holdings: Sequence[Holding] = ()) -> DpaStatus:
    versions = list_versions(session, actor)
    latest = versions[0] if versions else None
    accepted = next((version for version in versions if version.accepted_at is not None), None)
    try:
        current = build_annexes(session, settings, keys, _account(session, actor), holdings=holdings)
        configured = True
    except ProviderNotConfigured:
        current, configured = None, False
    changes = changes_between(json.loads(latest.annexes), current) if latest is not None and current is not None else []
    return DpaStatus(versions=versions, latest=latest, accepted=accepted, changes=changes, configured=configured)


def _check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidInput(_("Choose Swedish or English."), fields={"lang": _("Choose sv or en.")})
    return lang


def preview(
    session: Session, settings: Settings, keys: KeyRing, actor: Actor, *, lang: str, now: datetime, holdings: Sequence[Holding] = ()
) -> str:
    """The document as it would be generated now, as an HTML page. ``holdings``: the personal-data
    registry, for Annex II (``build_annexes``)."""
    require(actor, Permission.DPA_READ)
    lang = _check_language(lang)
    annexes = build_annexes(session, settings, keys, _account(session, actor), holdings=holdings)
    details = get_details(session, actor, now=now)
    return render_html(annexes, details, lang=lang, version_number=_("draft"), generated_at=now, pdf=False).html


def generate(
    session: Session, settings: Settings, keys: KeyRing, actor: Actor, *, lang: str, now: datetime, reader: Session | None = None,
    holdings: Sequence[Holding] = (),
) -> tuple[DpaVersion, bool]:
    """A PDF of today's agreement in ``lang``; the newest version when it is in ``lang`` and nothing
    has changed since (the same document is not issued twice). Returns (version, created).

    ``reader``: a reading session for what the document is made of, closed before the PDF is
    rendered (about a second), so that ``session`` writes only the new version: on SQLite no
    other writer waits while WeasyPrint works."""
    require(actor, Permission.DPA_ACCEPT)
    lang = _check_language(lang)
    source = reader or session
    account = _account(source, actor)
    annexes = build_annexes(source, settings, keys, account, holdings=holdings)
    row = source.get(DpaDetails, actor.account_id)
    details = _decrypt_details(source, actor, row, now)
    if details is None:
        _record_unreadable(session, actor, "dpa_details", actor.account_id, now)
        raise DetailsUnreadable()
    try:
        check_details(details)
    except InvalidInput as missing:
        raise InvalidInput(_("Fill in and save the signatory and contact details first."), fields=missing.fields) from None
    digest = annexes_hash(annexes)
    details_json = json.dumps(details, sort_keys=True)
    key = _key(source, actor.account_id, now)
    # Only the newest version can be accepted, so only it is given again when nothing changed.
    newest = newest_version(source, actor)
    if newest is not None and newest.language == lang and newest.annexes_sha256 == digest:
        try:
            old_details = unseal_field(key, DPA_VERSION_DETAILS, actor.account_id, newest.number, newest.details_ct).decode()
        except (DecryptionError, UnicodeDecodeError):
            old_details = None  # that version cannot be read: a new one is made
        if old_details == details_json:
            return (newest if reader is None else get_version(session, actor, _id_of(newest))), False
    number = newest.number + 1 if newest is not None else 1
    if reader is not None:
        reader.close()
    rendered = render_html(annexes, details, lang=lang, version_number=number, generated_at=now, pdf=True)
    pdf = render_pdf(rendered.html)
    version = DpaVersion(
        account_id=actor.account_id, number=number, language=lang, template_version=annexes["template_version"],
        annexes=canonical(annexes), annexes_sha256=digest,
        details_ct=seal_field(key, DPA_VERSION_DETAILS, actor.account_id, number, details_json),
        content_sha256=rendered.content_sha256,
        pdf_ct=seal_field(key, DPA_VERSION_PDF, actor.account_id, number, pdf),
        pdf_sha256=hashlib.sha256(pdf).hexdigest(), created_by=actor.label, created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError:
        raise Conflict(_("Another version was generated at the same moment. Reload the page and look at it.")) from None
    record_event(
        session, actor, Action.DPA_GENERATED, now=now, target=("dpa_version", version.id),
        details={"version": number, "language": lang, "document": f"sha256:{version.pdf_sha256}"},
    )
    return version, True


def download(session: Session, actor: Actor, version_id: int, *, now: datetime) -> tuple[str, bytes]:
    """The PDF as generated (its SHA-256 is the version's); audited."""
    version = get_version(session, actor, version_id)
    try:
        pdf = unseal_field(_key(session, actor.account_id, now), DPA_VERSION_PDF, actor.account_id, version.number, version.pdf_ct)
    except DecryptionError:
        _record_unreadable(session, actor, "dpa_version", _id_of(version), now)
        raise VersionUnreadable() from None
    record_event(
        session, actor, Action.DPA_DOWNLOADED, now=now, target=("dpa_version", version.id),
        details={"version": version.number, "document": f"sha256:{version.pdf_sha256}"},
    )
    return filename(session, actor, version), pdf


def filename(session: Session, actor: Actor, version: DpaVersion) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "-", _account(session, actor).name).strip("-") or "account"
    word = "PUB-avtal" if version.language == "sv" else "DPA"
    return f"{word}-{stem}-v{version.number}-{version.language}.pdf"


def accept(session: Session, actor: Actor, version_id: int, *, name: str, title: str, confirmed: bool, now: datetime) -> DpaVersion:
    """The admin accepts the newest version on behalf of the organisation, by name and title."""
    require(actor, Permission.DPA_ACCEPT)
    version = get_version(session, actor, version_id)
    newest = newest_version(session, actor)
    if newest is None or version.number != newest.number:
        raise Conflict(_("A newer version exists; read and accept that one."))
    if version.accepted_at is not None:
        raise Conflict(_("This version is accepted already."))
    name, title = single_line(name, "name"), single_line(title, "title")
    errors: dict[str, str] = {}
    if not name or len(name) > 200:
        errors["name"] = _("Give your name as it should stand in the acceptance.")
    if not title or len(title) > 200:
        errors["title"] = _("Give your title, such as Head of IT.")
    if not confirmed:
        errors["confirm"] = _("Tick the box to confirm that you may accept on behalf of the organisation.")
    if errors:
        raise InvalidInput(_("The agreement was not accepted."), fields=errors)
    version.accepted_at, version.accepted_by = now, actor.label
    version.acceptance_ct = seal_field(
        _key(session, actor.account_id, now), DPA_VERSION_ACCEPTANCE, actor.account_id, version.number,
        json.dumps({"name": name, "title": title}),
    )
    session.add(version)
    session.flush()
    record_event(
        session, actor, Action.DPA_ACCEPTED, now=now, target=("dpa_version", version.id),
        details={"version": version.number, "document": f"sha256:{version.pdf_sha256}"},
    )
    return version


def acceptance_of(session: Session, actor: Actor, version: DpaVersion, *, now: datetime) -> dict[str, Any] | None:
    """Who accepted (name, title); part of the details whose reading the page audits. When it
    cannot be read: "cannot be read" for both, and a ``data.unreadable`` event."""
    if version.acceptance_ct is None or version.account_id != actor.account_id:
        return None
    stored = _unseal_json(
        _key(session, actor.account_id, now), DPA_VERSION_ACCEPTANCE, actor.account_id, version.number, version.acceptance_ct
    )
    if not isinstance(stored, dict):
        _record_unreadable(session, actor, "dpa_version", _id_of(version), now)
        return {"name": _(CANNOT_BE_READ), "title": _(CANNOT_BE_READ), "unreadable": True}
    return stored


def unreadable_versions(session: Session, actor: Actor, versions: list[DpaVersion], *, now: datetime) -> set[int]:
    """The ids of ``versions`` whose stored document cannot be read (each a ``data.unreadable``
    event): the list marks them and offers no download. Reads the documents, one at a time."""
    require(actor, Permission.DPA_READ)
    if not versions:
        return set()
    key = _key(session, actor.account_id, now)
    unreadable: set[int] = set()
    for version in versions:
        blob = session.exec(
            select(DpaVersion.pdf_ct).where(DpaVersion.id == version.id, owned_by(DpaVersion, actor))
        ).first()
        try:
            if blob is None:  # the row is gone: as unreadable as a document that does not decrypt
                raise DecryptionError("not a stored ciphertext")
            unseal_field(key, DPA_VERSION_PDF, actor.account_id, version.number, blob)
        except DecryptionError:
            unreadable.add(_id_of(version))
            _record_unreadable(session, actor, "dpa_version", _id_of(version), now)
    return unreadable
