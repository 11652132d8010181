"""An access-log event as a sentence in the reader's language: what happened (the action's
label), to what (the target, a staff member or an API key by name), and its details with their
labels. The event keeps the ids; names are resolved when it is shown."""

from __future__ import annotations

from collections.abc import Mapping

from govsms.audit.actions import ACTION_LABELS, Action
from govsms.i18n import N_, _

TARGET_LABELS = {
    "user": N_("user"), "api_key": N_("API key"), "account": N_("account"), "contact": N_("contact"), "group": N_("group"),
    "dispatch": N_("dispatch"), "sender": N_("sender number"), "inbound_message": N_("received SMS"), "conversation": N_("conversation"),
    "subject_request": N_("data-subject request"), "subprocessor": N_("sub-processor"), "dpa_version": N_("DPA version"),
    "forwarding_rule": N_("forwarding rule"), "legal_hold": N_("legal hold"), "inbound_keyword": N_("keyword"),
    "data_category": N_("data category"),
}
DETAIL_LABELS = {
    "shown": N_("shown"), "total": N_("matching"), "page": N_("page"), "in_clear": N_("in clear"), "invalid": N_("invalid"),
    "roles": N_("roles"), "parts": N_("SMS parts"), "on": N_("on"), "erasure": N_("erasure"), "document": N_("document"),
    "blocked": N_("blocked"), "accepted": N_("accepted"), "version": N_("version"), "source": N_("source"), "holds": N_("holds"),
    "found": N_("found"), "by_number": N_("by number"), "was_on": N_("was on"), "rows": N_("rows"), "reason": N_("reason"),
    "keyword": N_("keyword"), "format": N_("format"), "existing": N_("existing"), "events": N_("events"), "destroyed": N_("destroyed"),
    "contacts": N_("contacts"), "language": N_("language"), "unsealed": N_("not yet sealed"), "ok": N_("intact"),
    "first_bad_seq": N_("first bad event"), "effective": N_("takes effect"), "filtered": N_("filtered"), "cli": N_("from the command line"),
    "days": N_("days"), "created": N_("created"), "removed": N_("removed"), "cancelled": N_("cancelled"), "dispatches": N_("dispatches"),
    "recipients": N_("recipients"), "export": N_("export"), "count": N_("count"), "accounts": N_("accounts"), "until": N_("until"),
    "after": N_("after"), "active": N_("active"), "enabled": N_("on"), "mode": N_("mode"), "step": N_("step"), "checkpoints": N_("checkpoints"),
}
YES, NO = N_("yes"), N_("no")


def value_text(value: object) -> str:
    if value is True:
        return _(YES)
    if value is False:
        return _(NO)
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {value_text(item)}" for key, item in value.items())
    return str(value)


def action_text(action: str) -> str:
    try:
        return _(ACTION_LABELS[Action(action)])
    except (ValueError, KeyError):
        return action


def target_text(target_type: str | None, target_id: str | None, names: Mapping[str, str]) -> str:
    """``användare Åsa Öberg``, ``kontakt 12``; a staff member or key by its name when the account knows it."""
    if not target_type:
        return ""
    label = _(TARGET_LABELS[target_type]) if target_type in TARGET_LABELS else target_type
    name = names.get(f"{target_type}:{target_id}") if target_type in ("user", "api_key") else None
    if name and target_type == "api_key":
        name = name.removeprefix("API: ")  # the label says it already
    return f"{label} {name or target_id or ''}".strip()


def details_text(details: Mapping[str, object]) -> str:
    """``visade 50, matchande 120, sida 1``: known keys by their label, others as they are."""
    parts = []
    for key, value in details.items():
        label = _(DETAIL_LABELS[key]) if key in DETAIL_LABELS else key.replace("_", " ")
        parts.append(f"{label} {value_text(value)}")
    return ", ".join(parts)


def sentence(action: str, target_type: str | None, target_id: str | None, details: Mapping[str, object], names: Mapping[str, str]) -> str:
    """The whole event as one line: ``Användare skapad: användare Åsa Öberg (roller sender).``"""
    text = action_text(action)
    target = target_text(target_type, target_id, names)
    if target:
        text += f": {target}"
    extra = details_text(details)
    if extra:
        text += f" ({extra})"
    return text + "."


def actor_text(actor: str, names: Mapping[str, str]) -> str:
    """Who did it: a name, a key's name, the system, or the id of someone the account no longer has."""
    if actor in names:
        return names[actor]
    if actor == "system":
        return _("The system")
    kind, _sep, number = actor.partition(":")
    if kind == "user":
        return _("User %(id)s (no longer in the account)") % {"id": number}
    if kind == "api_key":
        return _("API key %(id)s (no longer in the account)") % {"id": number}
    return actor
