"""Issue 13 in Chromium, on SQLite and (with GOVSMS_TEST_POSTGRES_URL) PostgreSQL: a number typed
as 070-123 45 67 is a contact in two groups, got 3 SMS, is blocked and was read by a sender. The
DPO registers a request, searches the number on /subjects and sees all of it and the access
history; exports (the ZIP's data.json holds the number, the name and the 3 texts; its report.pdf
names the storage times); previews and erases; downloads the signed receipt (JSON and PDF).
Afterwards a search finds only the kept block, the app's database holds no key, contact or SMS of
the person, a fresh vault finds no key, a send to the number is refused as blocked, and
``govsms dsr verify-receipt`` (a real process) exits 0, and 1 once one byte is changed. The
auditor finds the search and export by the number before the erasure, and the search, export and
erasure by the request's reference after it. Another account's DPO finds nothing and gets 404
for this account's export, receipt and request."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from govsms.accounts.login import actor_for_user
from govsms.auth import Actor, Role
from govsms.contacts.groups import add_members, create_group
from govsms.contacts.service import create_contact, get_contact
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.errors import InvalidInput
from govsms.i18n import _, language
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.retention.categories import BY_KEY, describe_days
from govsms.retention.service import storage_time_in_force
from govsms.sending import blocklist
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.settings import Settings
from tests.browser.test_accounts_journey import log_in
from tests.dpa.test_dpa import pdf_text
from tests.factories import make_account, make_user, now
from tests.served import Served, backend, serve  # noqa: F401

TYPED = "070-123 45 67"
E164 = "+46701234567"
NAME = "Åsa Öberg"
GROUPS = ("Styrelsen", "Föräldrar 3B")
TEXTS = ("Första: skolan stänger 12.00 i dag", "Andra: simhallen är stängd på lördag", "Tredje: välkommen på föräldramöte")
GOVSMS = Path(sys.executable).parent / "govsms"
SLOW = 30_000
"""Milliseconds for what renders a PDF (the export, the receipt) on a busy machine."""


@pytest.fixture
def app(serve) -> Served:  # type: ignore[no-untyped-def]
    """The app served on 127.0.0.1 (uvicorn, no worker) on each backend, prices seeded."""
    return serve()  # type: ignore[no-any-return]


@dataclass
class World:
    account_id: int
    account_name: str
    contact_id: int
    subject_id: int
    blind_index: bytes
    logins: dict[str, tuple[str, str]]
    sender: Actor


def _world(app: Served) -> World:
    """The account, its people and the person's data, made through the services as a sender
    would (contact, groups, 3 SMS, the block, one read of the contact)."""
    with app.session() as session:
        account = make_account(session, name="Kommunen i Åre", org_number="212000-2346")
        stranger_account = make_account(session, name="Grannkommunen", org_number="212000-1111")
        users = {
            "dpo": make_user(session, account, roles={Role.DPO}, display_name="Dora Dataskydd"),
            "auditor": make_user(session, account, roles={Role.AUDITOR}, display_name="Anton Granskare"),
            "sender": make_user(session, account, roles={Role.SENDER}, display_name="Sara Sändare"),
            "stranger": make_user(session, stranger_account, roles={Role.DPO}, display_name="Greta Granne"),
        }
        sender = actor_for_user(users["sender"][0], account)
        contact = create_contact(session, sender, number=TYPED, name=NAME, note="Förälder i 3B", now=now())
        for name in GROUPS:
            group = create_group(session, sender, name=name, now=now())
            add_members(session, sender, group.id, [contact.id], now=now())
        for sms in TEXTS:
            create_dispatch(session, sender, DispatchRequest(sender="Kommunen", text=sms, numbers=[TYPED]), public_url=app.url, now=now())
        blocklist.block_number(session, sender, TYPED, source="manual", now=now())
        get_contact(session, sender, contact.id, now=now())  # someone read the contact: the access history names it
        assert contact.subject_id is not None and account.id is not None
        index = session.info["vault"].blind_indexes(session, account.id, [E164], now=now())[E164]
        return World(
            account_id=account.id, account_name=account.name, contact_id=contact.id, subject_id=contact.subject_id, blind_index=index,
            logins={role: (user.email, password) for role, (user, password) in users.items()}, sender=sender,
        )


def _page(browser: Browser) -> Page:
    page = browser.new_context(locale="sv-SE", accept_downloads=True).new_page()
    page.set_default_timeout(SLOW)
    return page


def _search(page: Page, app: Served, number: str, *, request_id: int | None = None) -> None:
    page.goto(f"{app.url}/subjects")
    page.get_by_label("Nummer", exact=True).fill(number)
    if request_id is not None:
        page.get_by_label("För begäran").select_option(str(request_id))
    page.get_by_role("button", name="Sök", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Vad kontot har om")


def _audit(page: Page, app: Served, *, number: str = "", reference: str = "") -> Any:
    page.goto(f"{app.url}/audit")
    page.get_by_label("Telefonnummer").fill(number)
    page.get_by_label("Ärendenummer").fill(reference)
    page.get_by_role("button", name="Visa").click()
    rows = page.locator("table tbody")
    expect(rows).to_be_visible()
    return rows


def _download(page: Page, click: Any) -> bytes:
    with page.expect_download() as info:
        click()
    return Path(info.value.path()).read_bytes()


def _counts(session: Any, world: World) -> dict[str, int]:
    """What the app's database holds of the person, counted in raw SQL."""
    queries = {
        "subject_key": ("SELECT count(*) FROM subject_key WHERE id = :s OR (account_id = :a AND blind_index = :b)"),
        "contact": "SELECT count(*) FROM contact WHERE subject_id = :s OR id = :c",
        "group_member": "SELECT count(*) FROM group_member WHERE contact_id = :c",
        "outbound_message": "SELECT count(*) FROM outbound_message WHERE subject_id = :s",
        "block_entry": "SELECT count(*) FROM block_entry WHERE account_id = :a AND blind_index = :b",
        "subject_shred": "SELECT count(*) FROM subject_shred WHERE account_id = :a AND subject_id = :s",
    }
    values = {"s": world.subject_id, "a": world.account_id, "b": world.blind_index, "c": world.contact_id}
    return {table: session.execute(text(query), values).scalar_one() for table, query in queries.items()}


def _cli_env(settings: Settings) -> dict[str, str]:
    """The served app's environment, as an operator's shell would have it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update({
        "GOVSMS_DATA_DIR": str(settings.data_dir), "GOVSMS_DATABASE_URL": settings.resolved_database_url,
        "GOVSMS_MASTER_KEYS": settings.master_keys or "", "GOVSMS_SECRET_KEY": settings.secret_key or "",
        "GOVSMS_AUDIT_SIGNING_KEY": settings.audit_signing_key or "",
    })
    return env


def _storage_times(session: Any, account_id: int) -> list[str]:
    """How the Swedish report states the storage times of the person's categories."""
    with language("sv"):
        return [
            f"{describe_days(days)}, {_(BY_KEY[key].counted_from)}" if days is not None else describe_days(days)
            for key in ("contacts", "outbound_messages", "blocklist")
            for days in [storage_time_in_force(session, account_id, key)]
        ]


def test_the_dpo_finds_exports_and_erases_a_person(app: Served, browser: Browser, tmp_path: Path) -> None:
    world = _world(app)
    with app.session() as session:
        before = _counts(session, world)
        storage_times = _storage_times(session, world.account_id)
    assert before == {"subject_key": 1, "contact": 1, "group_member": 2, "outbound_message": 3, "block_entry": 1, "subject_shred": 0}

    dpo = _page(browser)
    log_in(dpo, app.url, *world.logins["dpo"])
    # The DPO registers the request: it gets the next reference of the year.
    dpo.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Ärenden").click()
    dpo.get_by_role("link", name="Registrera en begäran").click()
    dpo.get_by_label("Typ").select_option("erasure")
    dpo.get_by_label("Anteckningar").fill("Begäran kom per brev; personen vill ha ett utdrag och sedan radering.")
    dpo.get_by_role("button", name="Registrera", exact=True).click()
    expect(dpo.get_by_role("heading", level=1)).to_contain_text("Ärende DSR-")
    reference = re.search(r"DSR-\d{4}-\d{4}", dpo.get_by_role("heading", level=1).inner_text()).group(0)  # type: ignore[union-attr]
    assert reference.endswith("-0001")  # the account's first request
    request_id = int(dpo.url.split("?")[0].rsplit("/", 1)[1])

    # The search: everything the account holds, and who read it.
    dpo.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Personuppgifter").click()
    _search(dpo, app, TYPED, request_id=request_id)
    expect(dpo.get_by_role("heading", level=1)).to_contain_text(E164)
    expect(dpo.locator(".lead").first).to_contain_text(reference)
    contact = dpo.locator("#held-contact")
    for group in GROUPS:
        expect(contact).to_contain_text(f"Grupp: {group}")
    expect(contact.locator("td").nth(1)).to_have_text("1")
    expect(dpo.locator("#held-outbound_message td").nth(1)).to_have_text("3")
    expect(dpo.locator("#held-block_entry")).to_contain_text("Spärrad: tillagt för hand")
    expect(dpo.locator("#category-blocklist")).to_contain_text("Blockeringslista")
    history = dpo.locator("#history")
    expect(history.locator("tbody tr").filter(has_text="Kontakt öppnad")).to_contain_text("Sara Sändare")
    assert E164 not in dpo.url and "0701234567" not in dpo.url

    # Another account's DPO searches the same number: nothing of this account.
    stranger = _page(browser)
    log_in(stranger, app.url, *world.logins["stranger"])
    _search(stranger, app, TYPED)
    expect(stranger.locator("#nothing")).to_have_text("Kontot har inget om det här numret.")
    expect(stranger.locator("#history")).not_to_contain_text("Sara Sändare")
    for private in (*GROUPS, NAME, "Spärrad"):
        expect(stranger.locator("main")).not_to_contain_text(private)
    expect(stranger.locator("#act")).to_have_count(0)

    # The export: a ZIP of data.json and report.pdf, downloaded from the request's page.
    dpo.locator("#export-form select#language").select_option("sv")
    dpo.locator("#export-form").get_by_role("button", name="Exportera").click()
    expect(dpo.get_by_role("heading", level=1)).to_have_text(f"Ärende {reference}", timeout=SLOW)  # the PDF is rendered first
    expect(dpo.get_by_role("status").first).to_contain_text("Utdraget är klart")
    export_link = dpo.locator("#export").get_by_role("link", name="Ladda ned utdraget (ZIP)")
    export_url = f"{app.url}{export_link.get_attribute('href')}"
    archive = zipfile.ZipFile(io.BytesIO(_download(dpo, export_link.click)))
    assert sorted(archive.namelist()) == ["data.json", "report.pdf"]
    data = json.loads(archive.read("data.json"))
    assert data["number"] == E164 and data["reference"] == reference
    records = {holding["table"]: holding["records"] for holding in data["holdings"]}
    assert [(record["number"], record["name"], sorted(record["groups"])) for record in records["contact"]] == [(E164, NAME, sorted(GROUPS))]
    assert sorted(record["text"] for record in records["outbound_message"]) == sorted(TEXTS)
    assert {record["number"] for record in records["outbound_message"]} == {E164}
    assert [record["source"] for record in records["block_entry"]] == ["manual"]
    report = pdf_text(archive.read("report.pdf"), tmp_path)
    assert "Utdrag om dina personuppgifter" in report and reference in report and "Lagringstid" in report
    for stated in storage_times:
        assert stated in report, (stated, report[:3000])

    # The auditor finds the search and the export by the number (before the erasure).
    auditor = _page(browser)
    log_in(auditor, app.url, *world.logins["auditor"])
    events = _audit(auditor, app, number=TYPED)
    for label in ("En persons uppgifter sökta", "En persons uppgifter exporterade", "Kontakt öppnad"):
        expect(events).to_contain_text(label)
    expect(auditor.locator("main")).not_to_contain_text(NAME)
    public_key = auditor.locator("code.public-key").inner_text()

    # The preview, then the erasure, for the same request.
    _search(dpo, app, TYPED, request_id=request_id)
    dpo.locator("#erase-form").get_by_role("button", name="Radera…").click()
    expect(dpo.get_by_role("heading", level=1)).to_have_text("Radera en persons uppgifter")
    expect(dpo.locator("#erase-contact")).to_contain_text("1")
    expect(dpo.locator("#erase-outbound_message td").last).to_have_text("3")
    expect(dpo.locator("#keep-block_entry")).to_contain_text("Blockeringslista")
    expect(dpo.locator("#keep-block_entry")).to_contain_text(": 1)")
    dpo.get_by_label("Jag har granskat förhandsvisningen: radera personens uppgifter för gott").check()
    dpo.get_by_role("button", name="Radera personens uppgifter").click()
    expect(dpo.get_by_role("heading", level=1)).to_have_text(f"Radering {reference}", timeout=SLOW)
    expect(dpo.get_by_role("status").first).to_contain_text("Personens uppgifter är raderade och nyckeln förstörd")
    erasure_url = dpo.url
    receipt = _download(dpo, dpo.get_by_role("link", name="Signerat kvitto (JSON)").click)
    receipt_pdf = _download(dpo, dpo.get_by_role("link", name="Kvitto till personen (PDF, svenska)").click)
    body = json.loads(receipt)["receipt"]
    assert body["reference"] == reference and body["unblocked"] is False
    assert {line["table"]: line["rows"] for line in body["erased"]}.items() >= {"contact": 1, "outbound_message": 3}.items()
    assert [line["rows"] for line in body["kept"] if line["table"] == "block_entry"] == [1]
    assert E164.encode() not in receipt and b"0701234567" not in receipt and NAME.encode() not in receipt
    receipt_text = pdf_text(receipt_pdf, tmp_path)
    assert "Bekräftelse på radering" in receipt_text and reference in receipt_text and world.account_name in receipt_text

    # Afterwards: a search finds only the block (kept so that the number stays blocked).
    _search(dpo, app, TYPED)
    expect(dpo.locator("#nothing")).to_have_count(0)
    expect(dpo.locator("tr[id^=held-]")).to_have_count(1)
    expect(dpo.locator("#held-block_entry")).to_contain_text("Spärrad: tillagt för hand")
    expect(dpo.locator("section[id^=category-]")).to_have_count(1)
    for gone in (*GROUPS, NAME):
        expect(dpo.locator("main")).not_to_contain_text(gone)
    assert dpo.context.request.get(export_url).status == 404  # the erasure deleted the export too

    # The raw database and a fresh vault: no key, contact or SMS of the person; the block stays.
    with app.session() as session:
        assert _counts(session, world) == {
            "subject_key": 0, "contact": 0, "group_member": 0, "outbound_message": 0, "block_entry": 1, "subject_shred": 1,
        }
    with session_scope(make_session_factory(make_engine(app.settings.resolved_database_url), vault=Vault(load_key_ring(app.settings)))) as session:
        vault = session.info["vault"]
        assert vault.subjects_by_id(session, world.account_id, [world.subject_id]) == {}
        assert vault.find_subjects(session, world.account_id, [E164], now=now()) == {}
        # The blocklist still blocks the number: the summary counts it blocked, a send is refused.
        dry = create_dispatch(session, world.sender, DispatchRequest(sender="Kommunen", text="Ny info", numbers=[TYPED], dry_run=True),
                              public_url=app.url, now=now())
        assert (dry.accepted, dry.blocked) == (0, 1)
        with language("en"), pytest.raises(InvalidInput) as refused:
            create_dispatch(session, world.sender, DispatchRequest(sender="Kommunen", text="Ny info", numbers=[TYPED]), public_url=app.url, now=now())
        assert "is blocked" in refused.value.message and refused.value.recorded
        assert vault.find_subjects(session, world.account_id, [E164], now=now()) == {}  # the refused send made no key
    with app.session() as session:
        assert _counts(session, world)["subject_key"] == 0 and _counts(session, world)["outbound_message"] == 0

    # The receipt verifies with the real command, against the key the auditor's page publishes.
    path = tmp_path / f"receipt-{reference}.json"
    path.write_bytes(receipt)
    env = _cli_env(app.settings)
    genuine = subprocess.run([str(GOVSMS), "dsr", "verify-receipt", str(path), "--public-key", public_key],
                             env=env, capture_output=True, text=True, timeout=120)
    assert genuine.returncode == 0, genuine.stderr
    assert reference in genuine.stdout and "Genuine" in genuine.stdout
    changed = receipt.replace(b'"rows":3,"table":"outbound_message"', b'"rows":4,"table":"outbound_message"')
    assert len(changed) == len(receipt) and sum(a != b for a, b in zip(changed, receipt, strict=True)) == 1
    path.write_bytes(changed)
    forged = subprocess.run([str(GOVSMS), "dsr", "verify-receipt", str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert forged.returncode == 1, (forged.stdout, forged.stderr)
    assert "NOT GENUINE" in forged.stderr

    # The auditor finds the search, the export and the erasure by the request's reference.
    events = _audit(auditor, app, reference=reference)
    for label in ("En persons uppgifter sökta", "En persons uppgifter exporterade", "En persons uppgifter raderade"):
        expect(events).to_contain_text(label)
    expect(events.locator("tr").filter(has_text="En persons uppgifter raderade")).to_contain_text(reference)
    expect(auditor.locator("main")).not_to_contain_text(NAME)
    expect(auditor.locator("main")).not_to_contain_text(E164)

    # Another account's DPO gets 404 for this account's export, receipt and request.
    for url in (export_url, erasure_url, f"{erasure_url}/receipt.json", f"{erasure_url}/receipt.pdf", f"{app.url}/subjects/requests/{request_id}"):
        assert stranger.context.request.get(url).status == 404, url
    _search(stranger, app, TYPED)
    expect(stranger.locator("#nothing")).to_be_visible()
    for page in (dpo, stranger, auditor):
        page.context.close()
