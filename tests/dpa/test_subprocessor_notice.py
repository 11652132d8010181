"""A new sub-processor takes effect only after the DPA's notice (clause 6.2: 30 days): Annex IV
names it "from" that date, customers' admins see a banner until then, and accounts with an
administrative address are mailed (Done-when #6 of issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.clock import FixedClock
from govsms.dpa import notice, registry
from govsms.dpa.annexes import build_annexes, changes_between
from govsms.dpa.render import render_html
from govsms.keys.ring import KeyRing
from govsms.mail import Mail
from govsms.settings import Settings
from tests.factories import audit_events, make_account, make_user, now, system
from tests.web_helpers import login, post_form

DETAILS = {
    "signatory_name": "Åsa Öberg", "signatory_title": "Förvaltningschef", "contact_name": "Sören Ärlig",
    "contact_email": "soren@kommun.example", "contact_phone": "", "dpo_name": "", "dpo_email": "",
}
NEW = {"name": "Molnet Norr AB", "org_number": "556777-8888", "country": "SE", "city": "Umeå", "purpose": "Säkerhetskopior"}


def test_a_new_subprocessor_takes_effect_after_thirty_days(session: Session, settings: Settings, keys: KeyRing) -> None:
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    customer = make_account(session, name="Kommunen Öst", org_number="212000-1234")
    today = now()
    entry = registry.add_subprocessor(session, system(provider), **NEW, now=today)
    assert entry.effective_at == today + timedelta(days=registry.NOTICE_DAYS) == today + timedelta(days=30)
    assert [found.id for found in registry.pending_subprocessors(session, now=today)] == [entry.id]
    assert registry.pending_subprocessors(session, now=today + timedelta(days=30)) == []
    # An installation's first entry (the demo's) is in effect at once: no banner for it.
    first = registry.add_subprocessor(session, system(provider), **{**NEW, "name": "Första AB"}, now=today, in_effect_now=True)
    assert first.effective_at == today and [found.id for found in registry.pending_subprocessors(session, now=today)] == [entry.id]
    effective = (today + timedelta(days=30)).astimezone(ZoneInfo(customer.timezone)).date().isoformat()
    annexes = build_annexes(session, settings, keys, customer)
    assert {entry["name"]: entry["effective_from"] for entry in annexes["subprocessors"]} == {
        "Molnet Norr AB": effective, "Första AB": today.astimezone(ZoneInfo(customer.timezone)).date().isoformat(),
    }
    html = render_html(annexes, DETAILS, lang="sv", version_number=1, generated_at=today, pdf=False).html
    annex_four = html[html.index('id="annex-4"'):]
    assert "Molnet Norr AB" in annex_four and f"från {effective}" in annex_four
    english = render_html(annexes, DETAILS, lang="en", version_number=1, generated_at=today, pdf=False).html
    assert f"from {effective}" in english[english.index('id="annex-4"'):]
    [event] = [event for event in audit_events(session, "subprocessor.added") if event.target_id == str(entry.id)]
    assert f'"effective":"{(today + timedelta(days=30)).date().isoformat()}"' in event.details  # the day in UTC


def test_another_company_or_country_in_a_changed_entry_takes_effect_after_the_notice_again(session: Session) -> None:
    """Changing an entry's name, organisation number or country is adding another sub-processor in
    all but the row: the notice starts again. A corrected city or purpose changes no date."""
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    start = now() - timedelta(days=100)
    entry = registry.add_subprocessor(session, system(provider), **NEW, now=start, in_effect_now=True)
    today = now()
    same = registry.change_subprocessor(session, system(provider), entry.id, **{**NEW, "city": "Luleå", "purpose": "Kopior"}, now=today)
    assert not same.renewed_notice and same.entry.effective_at == start and registry.pending_subprocessors(session, now=today) == []
    for change in ({"name": "Molnet Söder AB"}, {"org_number": "556777-9999"}, {"country": "NO"}):
        changed = registry.change_subprocessor(session, system(provider), entry.id, **{**NEW, **change}, now=today)
        assert changed.renewed_notice and changed.entry.effective_at == today + timedelta(days=30)
        assert [found.id for found in registry.pending_subprocessors(session, now=today)] == [entry.id]
        registry.change_subprocessor(session, system(provider), entry.id, **NEW, now=today)  # back: a change again
    events = [event for event in audit_events(session, "subprocessor.changed") if event.target_id == str(entry.id)]
    assert len(events) == 7 and sum('"effective"' in (event.details or "") for event in events) == 6


def test_a_version_made_before_effective_dates_is_not_changed_by_them(session: Session, settings: Settings, keys: KeyRing) -> None:
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    customer = make_account(session, name="Kommunen Öst", org_number="212000-1234")
    registry.add_subprocessor(session, system(provider), **NEW, now=now())
    today = build_annexes(session, settings, keys, customer)
    older = {**today, "subprocessors": [{key: value for key, value in entry.items() if key != "effective_from"} for entry in today["subprocessors"]]}
    assert changes_between(older, today) == []
    # Any other change of the entry still shows.
    moved = {**today, "subprocessors": [{**entry, "city": "Kiruna"} for entry in older["subprocessors"]]}
    assert [change.kind for change in changes_between(moved, today)] == ["subprocessor_changed"]


def test_admins_see_the_banner_and_are_mailed(
    client: TestClient, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailed: list[Mail] = []
    monkeypatch.setattr(notice, "send_mail", lambda _settings, mail: mailed.append(mail))
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    customer = make_account(session, name="Kommunen Öst", org_number="212000-1234", admin_email="it@kommun.example")
    quiet = make_account(session, name="Bolaget Utan Adress", org_number="556000-1111")
    operator, operator_password = make_user(session, provider, roles={Role.OPERATOR})
    admin, admin_password = make_user(session, customer, roles={Role.ADMIN})
    sender, sender_password = make_user(session, customer, roles={Role.SENDER})
    other_admin, other_password = make_user(session, quiet, roles={Role.ADMIN})
    today = datetime(2026, 11, 30, 12, 0, tzinfo=now().tzinfo)
    client.app.state.clock = FixedClock(today)

    login(client, operator.email, operator_password)
    added = post_form(client, "/operator/subprocessors", NEW, token_from="/operator/dpa")
    assert added.status_code == 303
    assert "30 dagars underrättelse" in client.get(added.headers["location"]).text
    # One e-mail, to the account that has an administrative address, saying from when.
    assert [mail.to for mail in mailed] == [["it@kommun.example"]]
    assert "2026-12-30" in mailed[0].subject and "Molnet Norr AB" in mailed[0].body and "2026-12-30" in mailed[0].body
    assert "Säkerhetskopior" in mailed[0].body and "/dpa" in mailed[0].body and "(org.nr 556777-8888), Umeå, Sverige" in mailed[0].body
    client.cookies.clear()

    login(client, admin.email, admin_password)
    home = client.get("/").text
    assert 'class="banner' in home and "Molnet Norr AB" in home and "2026-12-30" in home and "/dpa/preview#annex-4" in home
    dpa_page = client.get("/dpa").text
    assert "Molnet Norr AB" in dpa_page
    client.cookies.clear()
    login(client, operator.email, operator_password)
    assert "från 2026-12-30" in client.get("/operator/dpa").text  # the operator's list says from when
    client.cookies.clear()
    login(client, admin.email, admin_password)
    preview = client.get("/dpa/preview?lang=sv").text
    assert "från 2026-12-30" in preview[preview.index('id="annex-4"'):]
    # The day it takes effect, the banner is gone.
    client.app.state.clock = FixedClock(today + timedelta(days=30))
    assert 'class="banner' not in client.get("/").text
    client.app.state.clock = FixedClock(today)
    client.cookies.clear()

    # A sender of the account is not the one to object: no banner.
    login(client, sender.email, sender_password)
    assert 'class="banner' not in client.get("/").text
    client.cookies.clear()
    # Every customer's admin is told, with an address or not.
    login(client, other_admin.email, other_password)
    assert "Molnet Norr AB" in client.get("/").text


def test_a_mail_server_that_fails_is_logged_without_addresses(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    # No server set: each notice fails as smtp:unset, counted, and no address is logged.
    mails = [Mail(to=["it@kommun.example"], subject="s", body="b"), Mail(to=["x@y.example"], subject="s", body="b")]
    assert notice.send_notices(settings.model_copy(update={"smtp_host": ""}), mails) == (0, 2)
    assert "smtp:unset" in caplog.text and "kommun.example" not in caplog.text
