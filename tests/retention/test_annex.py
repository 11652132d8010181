"""Annex II of an account's DPA states the account's storage times in force, and no other
account's (both backends)."""

from __future__ import annotations

from sqlmodel import Session

from govsms.dpa.annexes import annexes_hash, build_annexes
from govsms.dpa.render import render_html
from govsms.keys.ring import KeyRing
from govsms.retention.service import set_storage_time, set_storage_times_for
from govsms.settings import Settings
from tests.dpa.test_dpa import DETAILS
from tests.factories import make_account, now, system


def _days(annexes: dict) -> dict[str, int | None]:  # type: ignore[type-arg]
    return {entry["key"]: entry["days"] for entry in annexes["categories"]}


def test_annex_ii_states_the_accounts_own_times(session: Session, settings: Settings, keys: KeyRing) -> None:
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    first, second = make_account(session), make_account(session)
    before = build_annexes(session, settings, keys, second)
    set_storage_times_for(session, system(first), {"outbound_messages": 30, "contacts": 365}, now=now())
    mine, theirs = build_annexes(session, settings, keys, first), build_annexes(session, settings, keys, second)
    assert _days(mine)["outbound_messages"] == 30 and _days(mine)["contacts"] == 365
    assert _days(theirs)["outbound_messages"] == 90 and _days(theirs)["contacts"] is None
    assert annexes_hash(theirs) == annexes_hash(before)  # no new version for the other account
    html = render_html(mine, DETAILS, lang="en", version_number=1, generated_at=now(), pdf=False).html
    annex_2 = html[html.index('id="annex-2"'):html.index('id="annex-3"')]
    assert "30 days, counted from sending" in annex_2 and "365 days, counted from the last change" in annex_2
    # The provider's lower maximum caps the account's choice in the annex too.
    set_storage_time(session, system(provider), "outbound_messages", 20, now=now())
    assert _days(build_annexes(session, settings, keys, first))["outbound_messages"] == 20
