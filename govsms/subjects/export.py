"""The access export (GDPR Art. 15 and 20): one person's data from every holding of the
personal-data registry, as a ZIP of ``data.json`` (every held value, decrypted, machine-readable)
and ``report.pdf`` (what is held, why, for whom and how long, where it came from, the person's
rights and how to complain to IMY; in Swedish or English, in the DPA's look).

The ZIP's SHA-256 is in the access-log event. The ZIP is kept sealed under the account's data key
for 30 days for download, then purged (``export_store.purge_expired_exports``); an erasure of the
person deletes it (``export_store.erase_exports``)."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from jinja2 import Environment
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.clock import localtime
from govsms.dpa.annexes import ProviderNotConfigured, provider_of
from govsms.dpa.registry import EEA, active_subprocessors, country_name
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import N_, _, language as in_language
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.personal_data import Holding, Person
from govsms.retention.categories import BY_KEY, describe_days
from govsms.retention.service import account_storage_times
from govsms.subjects.models import EXPORT_CONTENT, SubjectExport, SubjectRequest
from govsms.subjects.requests import find_request, link_export, link_subject, request_for
from govsms.templating import base_environment
from govsms.settings import Settings
from govsms.tenancy import get_scoped, scoped

EXPORT_DAYS = 30
"""How long the ZIP is kept for download."""
LANGUAGES = ("sv", "en")
MISSING = N_("No such export, or it has expired.")


@dataclass(frozen=True)
class ExportFile:
    """A downloaded export: its file name and the ZIP."""

    filename: str
    content: bytes


@cache
def environment() -> Environment:
    env = base_environment()
    env.filters["localtime"] = localtime
    return env


def _check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        message = _("Choose the report's language: sv (Swedish) or en (English).")
        raise InvalidInput(message, fields={"language": message})
    return lang


def _held(session: Session, holdings: Sequence[Holding], person: Person) -> list[tuple[Holding, list[dict[str, object]]]]:
    """Each holding's records about the person (holdings without any are left out)."""
    held = []
    for holding in holdings:
        if holding.export is None:
            continue
        records = holding.export(session, person)
        if records:
            held.append((holding, records))
    return held


def _data_json(
    person: Person, request: SubjectRequest, account: Account, held: list[tuple[Holding, list[dict[str, object]]]], now: datetime,
) -> bytes:
    document = {
        "format": "govsms.subject_export/1",
        "generated_at": now.isoformat(),
        "reference": request.reference,
        "number": person.e164,
        "controller": {"name": account.name, "org_number": account.org_number},
        "holdings": [
            {"table": holding.table, "category": holding.category, "description": holding.description, "records": records}
            for holding, records in held
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def _report_context(
    session: Session, account: Account, request: SubjectRequest, held: list[tuple[Holding, list[dict[str, object]]]],
    lang: str, now: datetime, processor: str,
) -> dict[str, Any]:
    """What the report says, in the current language."""
    counts: dict[str, int] = {}
    held_texts: dict[str, list[str]] = {}
    for holding, records in held:
        counts[holding.category] = counts.get(holding.category, 0) + len(records)
        held_texts.setdefault(holding.category, []).append(_(holding.description))
    times = {time.category.key: time.in_force for time in account_storage_times(session, request.account_id)}
    categories = [
        {
            "label": _(BY_KEY[key].label), "data": _(BY_KEY[key].data), "count": count, "held": held_texts[key],
            "storage_time": describe_days(times.get(key)),
            "counted_from": _(BY_KEY[key].counted_from) if times.get(key) is not None else "",
        }
        for key, count in counts.items() if key in BY_KEY
    ]
    subprocessors = [
        {"name": entry.name, "country": country_name(entry.country, lang), "purpose": entry.purpose, "in_eea": entry.country in EEA}
        for entry in active_subprocessors(session)
    ]
    return {
        "lang": lang, "account": account, "request": request, "categories": categories, "subprocessors": subprocessors,
        "processor": processor, "generated_on": localtime(now, "%Y-%m-%d"), "nothing_held": not categories,
    }


def render_report(context: dict[str, Any]) -> bytes:
    """The report as a PDF (WeasyPrint, the DPA's stylesheet; nothing is fetched)."""
    from govsms.dpa.render import render_pdf

    html = environment().get_template("subjects/export_report.html").render(**context)
    return render_pdf(html)


def _zip(files: list[tuple[str, bytes]], now: datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = now.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def create_export(
    session: Session, actor: Actor, holdings: Sequence[Holding], person: Person, request: SubjectRequest | int | None, *,
    language: str, now: datetime, processor: str = "",
) -> SubjectExport:
    """The access export of ``person``: runs every holding's ``export``, builds the ZIP, keeps it
    sealed for 30 days and links it to ``request`` (a request of the account, its id, or None: a
    new access request received today). ``processor``: the provider's name for the report
    (``dpa.annexes.provider_of``; the caller has the settings). Audited (SUBJECT_EXPORTED) with
    the ZIP's SHA-256, the person and the request's reference."""
    require(actor, Permission.SUBJECTS)
    lang = _check_language(language)
    if person.account_id != actor.account_id:
        raise NotFound(_("No such person."))
    if not isinstance(request, SubjectRequest):
        request = request_for(session, actor, request, "access", now=now)
    elif request.account_id != actor.account_id:
        raise NotFound(_("No such request."))
    assert request.id is not None
    link_subject(session, actor, request, person.subject_id, now=now, blind_index=person.blind_index)
    account = session.get(Account, actor.account_id)
    assert account is not None
    held = _held(session, holdings, person)
    data = _data_json(person, request, account, held, now)
    with in_language(lang):
        report = render_report(_report_context(session, account, request, held, lang, now, processor))
    content = _zip([("data.json", data), ("report.pdf", report)], now)
    digest = hashlib.sha256(content).hexdigest()
    key = vault_of(session).account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    export = SubjectExport(
        id=secrets.token_urlsafe(32), account_id=actor.account_id, request_id=request.id, subject_id=person.subject_id,
        blind_index=person.blind_index,
        sha256=digest, content_ct=seal_field(key, EXPORT_CONTENT, actor.account_id, request.id, content), language=lang,
        created_by=actor.label, created_at=now, expires_at=now + timedelta(days=EXPORT_DAYS),
    )
    session.add(export)
    session.flush()
    link_export(session, actor, request, export.id, now=now)
    record_event(
        session, actor, Action.SUBJECT_EXPORTED, now=now, target=("subject_request", request.reference),
        subjects=[person.subject_id] if person.subject_id is not None else [],
        details={
            "document": f"sha256:{digest}", "request": request.id, "holdings": len(held),
            "records": sum(len(records) for _holding, records in held), "language": lang,
        },
    )
    return export


def get_export(session: Session, actor: Actor, export_id: str, *, now: datetime) -> SubjectExport:
    """The export's row (not its content: no audit event); NotFound for another account's, an
    expired or a purged one."""
    require(actor, Permission.SUBJECTS)
    export = get_scoped(session, SubjectExport, export_id, actor, missing=_(MISSING))
    if export.expires_at <= now:
        raise NotFound(_(MISSING))
    return export


def download_export(session: Session, actor: Actor, export_id: str, *, now: datetime) -> ExportFile:
    """The ZIP in clear: an audited read (SUBJECT_EXPORT_DOWNLOADED, the person and the request's
    reference). NotFound after expiry or for another account; a ZIP that does not open, or is not
    the one recorded, is refused as not found too (and nothing is handed out)."""
    export = get_export(session, actor, export_id, now=now)
    request = find_request(session, actor, export.request_id)
    key = vault_of(session).account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    try:
        content = unseal_field(key, EXPORT_CONTENT, actor.account_id, export.request_id, export.content_ct)
    except DecryptionError:
        raise NotFound(_(MISSING)) from None
    if hashlib.sha256(content).hexdigest() != export.sha256:
        raise NotFound(_(MISSING))
    record_event(
        session, actor, Action.SUBJECT_EXPORT_DOWNLOADED, now=now, target=("subject_request", request.reference),
        subjects=[export.subject_id] if export.subject_id is not None else [],
        details={"document": f"sha256:{export.sha256}", "request": request.id},
    )
    return ExportFile(f"{request.reference}.zip", content)


def exports_of(session: Session, actor: Actor, request_id: int, *, now: datetime) -> list[SubjectExport]:
    """The request's exports still kept for download, newest first (rows only: no audit event)."""
    require(actor, Permission.SUBJECTS)
    return list(session.exec(
        scoped(SubjectExport, actor).where(col(SubjectExport.request_id) == request_id, col(SubjectExport.expires_at) > now)
        .order_by(col(SubjectExport.created_at).desc())
    ).all())


def processor_name(session: Session, settings: Settings) -> str:
    """The provider's name for the report; empty while the operator has not configured it."""
    try:
        return provider_of(session, settings).name
    except ProviderNotConfigured:
        return ""
