"""Contacts, groups, import and the access log through HTTP (UI and API), on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.chain import seal_events
from govsms.contacts.filereader import write_xlsx
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import csrf_token, login, post_form


def sender_client(client: TestClient, session: Session):  # type: ignore[no-untyped-def]
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    return account


def test_add_search_open_and_edit_a_contact(client: TestClient, session: Session) -> None:
    sender_client(client, session)
    created = post_form(client, "/contacts", {"number": "070-123 45 67", "name": "Åsa Öberg"}, token_from="/contacts")
    assert created.status_code == 303
    page = client.get(created.headers["location"])
    assert page.status_code == 200 and "+46701234567" in page.text and "Åsa Öberg" in page.text
    found = post_form(client, "/contacts/search", {"number": "+46 70 123 45 67"}, token_from="/contacts")
    assert "Åsa Öberg" in found.text and "(1)" in found.text
    bad = post_form(client, "/contacts", {"number": "0701", "name": "X"}, token_from="/contacts")
    assert bad.status_code == 422 and 'id="number-error"' in bad.text and "Sverige" in bad.text
    duplicate = post_form(client, "/contacts", {"number": "0701234567"}, token_from="/contacts")
    assert duplicate.status_code == 409


def test_import_preview_lists_bad_rows_then_imports_into_a_group(client: TestClient, session: Session) -> None:
    sender_client(client, session)
    content = write_xlsx([("0701234567", "Anna"), ("hej", "Bertil"), ("070-123 45 67", "Anna igen"), ("+4520123456", "Dansk")], ("Mobil", "Namn"))
    token = csrf_token(client, "/contacts/import")
    preview = client.post(
        "/contacts/import", data={"_csrf_token": token}, files={"file": ("kunder.xlsx", content, "application/octet-stream")}
    )
    assert preview.status_code == 200, preview.text[:300]
    assert 'id="valid-count">2<' in preview.text and 'id="invalid-count">1<' in preview.text and 'id="duplicate-count">1<' in preview.text
    assert "<td>3</td><td>hej</td>" in preview.text
    assert "Inga kontakter ännu" in client.get("/contacts").text  # nothing written yet
    action = re.search(r'action="(/contacts/import/[0-9a-f]+)"', preview.text).group(1)  # type: ignore[union-attr]
    done = post_form(client, action, {"group_name": "Kunder"}, token_from="/contacts/import")
    assert done.status_code == 303 and "created=2" in done.headers["location"]
    group_page = client.get(done.headers["location"])
    assert "Anna" in group_page.text and "+4520123456" in group_page.text
    again = post_form(client, action, {"group_name": "Igen"}, token_from="/contacts/import")
    assert again.status_code == 404  # the upload is gone once imported


def test_export_downloads_with_no_store(client: TestClient, session: Session) -> None:
    sender_client(client, session)
    post_form(client, "/contacts", {"number": "0701234567", "name": "Åsa"}, token_from="/contacts")
    response = client.get("/contacts/export", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"] and "+46701234567" in response.content.decode("utf-8-sig")


def test_api_contacts_and_groups(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _, key = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {key}"}
    group = client.post("/api/v1/groups", json={"name": "API-gruppen"}, headers=headers)
    assert group.status_code == 201, group.text
    contact = client.post("/api/v1/contacts", json={"number": "0701234567", "name": "Örjan", "group_ids": [group.json()["id"]]}, headers=headers)
    assert contact.status_code == 201 and contact.json()["number"] == "+46701234567"
    bad = client.post("/api/v1/contacts", json={"number": "abc"}, headers=headers)
    assert bad.status_code == 422 and "number" in bad.json()["fields"]
    missing = client.post("/api/v1/contacts", json={"name": "utan nummer"}, headers=headers)
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_input"
    found = client.post("/api/v1/contacts/search", json={"number": "+46701234567"}, headers=headers).json()
    assert found["total"] == 1 and found["items"][0]["name"] == "Örjan"
    members = client.get(f"/api/v1/groups/{group.json()['id']}/members", headers=headers).json()
    assert members["total"] == 1
    changed = client.patch(f"/api/v1/contacts/{contact.json()['id']}", json={"name": "Örjan Ö"}, headers=headers)
    assert changed.status_code == 200 and changed.json()["name"] == "Örjan Ö"
    dry = client.post(
        "/api/v1/contacts/import", data={"dry_run": "true"}, headers=headers,
        files={"file": ("a.csv", b"nummer;namn\n0702223344;Per\nxyz;Fel\n", "text/csv")},
    )
    assert dry.status_code == 201 and dry.json()["valid"] == 1 and dry.json()["invalid"][0]["row"] == 3
    assert client.delete(f"/api/v1/contacts/{contact.json()['id']}", headers=headers).status_code == 204


def test_auditor_finds_every_access_to_a_number(client: TestClient, session: Session) -> None:
    account = make_account(session)
    sender, sender_password = make_user(session, account, roles={Role.SENDER})
    auditor, auditor_password = make_user(session, account, roles={Role.AUDITOR})
    login(client, sender.email, sender_password)
    created = post_form(client, "/contacts", {"number": "0701234567", "name": "Åsa"}, token_from="/contacts")
    client.get(created.headers["location"])  # opened
    client.get("/contacts")  # listed
    client.get("/contacts/export", params={"format": "xlsx"})  # exported
    post_form(client, "/contacts", {"number": "0709999999", "name": "Någon annan"}, token_from="/contacts")
    post_form(client, "/logout", {}, token_from="/")
    login(client, auditor.email, auditor_password)
    assert client.get("/contacts").status_code == 403  # the auditor sees no contact data
    log = post_form(client, "/audit", {"number": "070-123 45 67"}, token_from="/audit")  # never in the URL
    assert log.status_code == 200
    rows = log.text.split("<tbody>")[1].split("</tbody>")[0]
    for label in ("Kontakt skapad", "Kontakt öppnad", "Kontakter listade", "Kontakter exporterade"):
        assert label in rows, label
    assert "Åsa" not in log.text and "0701234567" not in log.text
    assert sender.display_name in rows
    other = post_form(client, "/audit", {"number": "0709999999"}, token_from="/audit").text.split("<tbody>")[1].split("</tbody>")[0]
    assert "Kontakt skapad" in other and "Kontakt öppnad" not in other  # the other person was never opened
    seal_events(session, client.app.state.key_ring.audit_signing_seed, now=datetime.now(UTC))  # the scheduler's work; verify never seals
    verified = post_form(client, "/audit/verify", {}, token_from="/audit")
    assert verified.status_code == 200 and "Loggen är intakt" in verified.text
    export = client.get("/audit/export")
    assert export.status_code == 200 and export.text.count('"type":"checkpoint"') >= 1
