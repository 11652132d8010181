"""What the DPA's annexes say, taken from the running service: one snapshot, language-neutral
(keys and figures), that the templates put into words. Each part has one source of truth:

- I  parties: the provider from settings (or its account), the customer from its account;
- II the processing: ``govsms.retention`` categories with the account's storage times in force
  (its own choice capped by the provider's maximum);
- III measures: the deployed configuration (key ring, key store, login policy, audit signing
  key, database, hosting country, transport, public address);
- IV sub-processors: the operator's registry.

A snapshot is compared with an earlier version's to tell what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from govsms.accounts.models import Account
from govsms.accounts.password import MIN_SCORE
from govsms.auth import Role
from govsms.accounts.totp import required_roles
from govsms.audit.service import public_key, public_key_text
from govsms.clock import zone
from govsms.dpa.registry import EEA, NOTICE_DAYS, active_subprocessors
from govsms.errors import Conflict
from govsms.i18n import _
from govsms.keys.ring import KeyRing
from govsms.personal_data import Holding
from govsms.retention.categories import CATEGORIES
from govsms.retention.service import account_storage_times
from govsms.settings import Settings

TEMPLATE_VERSION = "2026.1"
"""Raise when the clause text in ``templates/dpa/`` changes: customers then see a new version."""

BREACH_HOURS = 24
"""Longest time from knowing of a breach to telling the customer (clause 9)."""
DELETION_DAYS = 30
"""Time to delete or return the data when the agreement ends (clause 10)."""


@dataclass(frozen=True)
class Provider:
    name: str
    org_number: str
    address: str
    email: str


class ProviderNotConfigured(Conflict):
    """No agreement can name the processor yet: the operator has work to do."""


def provider_of(session: Session, settings: Settings) -> Provider:
    """The processor: settings first, else the provider's own account."""
    account = session.exec(select(Account).where(col(Account.is_provider).is_(True)).order_by(col(Account.id))).first()
    name = settings.provider_name or (account.name if account else "")
    org_number = settings.provider_org_number or (account.org_number if account else "")
    if not name or not org_number:
        raise ProviderNotConfigured(
            _("The provider has not configured its own details yet, so no agreement can be generated. Ask your provider."),
            fields={"provider": "GOVSMS_PROVIDER_NAME and GOVSMS_PROVIDER_ORG_NUMBER, or: govsms account create NAME --provider --org-number N"},
        )
    return Provider(
        name=name,
        org_number=org_number,
        address=settings.provider_address or (account.billing_address if account else ""),
        email=settings.provider_email or (account.admin_email or "" if account else ""),
    )


def measures(settings: Settings, keys: KeyRing, *, totp_roles: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Annex III as keys and the figures that back them; the templates word them. ``totp_roles``:
    the roles whose users the provider requires to log in in two steps."""
    url = make_url(settings.resolved_database_url)
    database = "postgresql" if url.get_backend_name() == "postgresql" else "sqlite"
    return [
        {"key": "encryption", "cipher": "AES-256-GCM"},
        {"key": "key_management", "master_keys": len(keys.master_keys), "separate_keystore": bool(settings.keystore_url)},
        {"key": "blind_indexes", "algorithm": "HMAC-SHA-256"},
        {"key": "access_control", "roles": [role.value for role in Role if role != Role.OPERATOR], "password_hash": "argon2id",
         "lockout_failures": settings.login_max_failures, "lockout_minutes": settings.login_lockout_minutes,
         "session_hours": settings.session_hours, "password_policy": "zxcvbn", "password_min_score": MIN_SCORE,
         "two_step": "TOTP (RFC 6238)", "two_step_required_roles": sorted(totp_roles)},
        {"key": "access_log", "chain": "SHA-256", "signature": "Ed25519", "public_key": public_key_text(public_key(keys))},
        {"key": "storage", "database": database, "hosting_country": settings.hosting_country.upper()},
        {"key": "transport", "transport": settings.transport},
        {"key": "web", "https": settings.public_url.startswith("https://")},
        {"key": "logs"},
        {"key": "retention", "automatic": settings.scheduler_enabled,
         "categories": [category.key for category in CATEGORIES if category.purged_automatically]},
        {"key": "optout"},
    ]


def annex_categories(session: Session, account_id: int, holdings: Sequence[Holding]) -> list[dict[str, Any]]:
    """Annex II's rows: each category with the account's storage time in force and, given the
    personal-data registry, what the service holds in it (the holdings' descriptions, as their
    untranslated text: the templates translate them)."""
    rows: list[dict[str, Any]] = []
    for time in account_storage_times(session, account_id):
        row: dict[str, Any] = {"key": time.category.key, "days": time.in_force}
        if holdings:
            row["held"] = [holding.description for holding in holdings if holding.category == time.category.key]
        rows.append(row)
    return rows


def build_annexes(
    session: Session, settings: Settings, keys: KeyRing, account: Account, *, holdings: Sequence[Holding] = ()
) -> dict[str, Any]:
    """Today's annexes for this account (nothing here is personal data). ``holdings``: the
    personal-data registry (``govsms.registry.all_holdings()``, handed down by the caller, since
    a domain does not import the entry points); without it Annex II names the categories only."""
    provider = provider_of(session, settings)
    subprocessors = [
        {"name": entry.name, "org_number": entry.org_number, "country": entry.country, "city": entry.city, "purpose": entry.purpose,
         "safeguard": entry.safeguard, "effective_from": entry.effective_at.astimezone(zone(account.timezone)).date().isoformat()}
        for entry in active_subprocessors(session)
    ]
    assert account.id is not None  # a stored account
    return {
        "template_version": TEMPLATE_VERSION,
        "provider": {"name": provider.name, "org_number": provider.org_number, "address": provider.address, "email": provider.email},
        "customer": {"name": account.name, "org_number": account.org_number, "address": account.billing_address},
        "categories": annex_categories(session, account.id, holdings),
        "measures": measures(settings, keys, totp_roles=[role.value for role in required_roles(session)]),
        "subprocessors": subprocessors,
        "transfers_outside_eea": settings.hosting_country.upper() not in EEA or any(entry["country"] not in EEA for entry in subprocessors),
        "terms": {"notice_days": NOTICE_DAYS, "breach_hours": BREACH_HOURS, "deletion_days": DELETION_DAYS},
    }


def canonical(annexes: dict[str, Any]) -> str:
    return json.dumps(annexes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def annexes_hash(annexes: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(annexes).encode()).hexdigest()


@dataclass(frozen=True)
class Change:
    """One difference between an earlier version's annexes and today's, as figures; the page
    words it."""

    kind: str
    """``template``, ``party``, ``storage_time``, ``processing`` (what a category holds), ``measure``, ``subprocessor_added``,
    ``subprocessor_removed``, ``subprocessor_changed``, ``transfers``, ``terms``."""
    subject: str
    before: Any = None
    after: Any = None


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    found: list[Change] = []
    if before.get("template_version") != after.get("template_version"):
        found.append(Change("template", "clauses", before.get("template_version"), after.get("template_version")))
    for party in ("provider", "customer"):
        for field in sorted(set(before.get(party, {})) | set(after.get(party, {}))):
            old, new = before.get(party, {}).get(field), after.get(party, {}).get(field)
            if old != new:
                found.append(Change("party", f"{party}.{field}", old, new))
    old_days = {entry["key"]: entry["days"] for entry in before.get("categories", [])}
    new_days = {entry["key"]: entry["days"] for entry in after.get("categories", [])}
    for key in [*new_days, *(key for key in old_days if key not in new_days)]:
        if key not in old_days or key not in new_days or old_days[key] != new_days[key]:
            found.append(Change("storage_time", key, old_days.get(key), new_days.get(key)))
    old_held = {entry["key"]: entry["held"] for entry in before.get("categories", []) if "held" in entry}
    new_held = {entry["key"]: entry["held"] for entry in after.get("categories", []) if "held" in entry}
    for key in new_held:
        if key in old_held and old_held[key] != new_held[key]:
            found.append(Change("processing", key, old_held[key], new_held[key]))
    old_measures = {entry["key"]: entry for entry in before.get("measures", [])}
    new_measures = {entry["key"]: entry for entry in after.get("measures", [])}
    for key in [*new_measures, *(key for key in old_measures if key not in new_measures)]:
        if old_measures.get(key) != new_measures.get(key):
            found.append(Change("measure", key, old_measures.get(key), new_measures.get(key)))
    old_subs = {entry["name"]: entry for entry in before.get("subprocessors", [])}
    new_subs = {entry["name"]: entry for entry in after.get("subprocessors", [])}
    for name in new_subs.keys() - old_subs.keys():
        found.append(Change("subprocessor_added", name, None, new_subs[name]))
    for name in old_subs.keys() - new_subs.keys():
        found.append(Change("subprocessor_removed", name, old_subs[name], None))
    for name in sorted(old_subs.keys() & new_subs.keys()):
        # A version made before sub-processors had an effective date: the date is no change.
        new = {key: value for key, value in new_subs[name].items() if key != "effective_from" or key in old_subs[name]}
        if old_subs[name] != new:
            found.append(Change("subprocessor_changed", name, old_subs[name], new_subs[name]))
    if before.get("transfers_outside_eea") != after.get("transfers_outside_eea"):
        found.append(Change("transfers", "transfers_outside_eea", before.get("transfers_outside_eea"), after.get("transfers_outside_eea")))
    if before.get("terms") != after.get("terms"):
        found.append(Change("terms", "terms", before.get("terms"), after.get("terms")))
    return found
