"""The register's pages and API on both backends: the DPO registers, lists (overdue marked, pages),
opens (an audited read of the notes), edits and extends a request, exports a number posted in a
form and downloads the ZIP; the dashboard warns of requests due; another account's DPO gets 404
or an empty list everywhere; hostile input is a 4xx naming the field, never a 500."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from govsms.auth import Role
from govsms.subjects.models import SubjectExport, SubjectRequest
from govsms.subjects.requests import list_requests, register_request
from tests.factories import audit_events, make_account, make_api_key, make_contact, make_user, now
from tests.subjects.test_requests import dpo
from tests.web_helpers import login, post_form

NUMBER = "070-123 45 67"


def _logged_in(client: TestClient, session: Session, role: Role = Role.DPO):  # type: ignore[no-untyped-def]
    account = make_account(session)
    user, password = make_user(session, account, roles={role})
    login(client, user.email, password)
    return account


def _only_request(session: Session, account_id: int) -> SubjectRequest:
    return session.exec(select(SubjectRequest).where(SubjectRequest.account_id == account_id)).one()


def test_the_dpo_registers_opens_edits_and_extends_a_request(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session)
    assert 'href="/subjects/requests"' in client.get("/").text  # in the navigation
    empty = client.get("/subjects/requests")
    assert empty.status_code == 200 and 'href="/subjects/requests/new"' in empty.text
    new = client.get("/subjects/requests/new")
    assert new.status_code == 200 and 'name="kind"' in new.text
    received = (now().date() - timedelta(days=3)).isoformat()
    registered = post_form(
        client, "/subjects/requests", {"kind": "access", "received_on": received, "notes": "Ringde i morse"},
        token_from="/subjects/requests/new",
    )
    assert registered.status_code == 303, registered.text[:300]
    request = _only_request(session, account.id)
    assert registered.headers["location"] == f"/subjects/requests/{request.id}?done=registered"
    assert request.reference == f"DSR-{request.received_on.year}-0001"

    shown = client.get(f"/subjects/requests/{request.id}?done=registered")
    assert shown.status_code == 200 and request.reference in shown.text and "Ringde i morse" in shown.text
    assert request.due_on.isoformat() in shown.text
    assert len(audit_events(session, "subject_request.viewed", account.id)) == 1

    listed = client.get("/subjects/requests")
    assert request.reference in listed.text and "badge overdue" not in listed.text

    saved = post_form(
        client, f"/subjects/requests/{request.id}", {"notes": "Utdrag skickat", "status": "done"}, token_from=f"/subjects/requests/{request.id}",
    )
    assert saved.status_code == 303
    session.refresh(request)
    assert request.status == "done" and request.closed_at is not None
    reopened = post_form(
        client, f"/subjects/requests/{request.id}", {"notes": "Utdrag skickat", "status": "open"}, token_from=f"/subjects/requests/{request.id}",
    )
    assert reopened.status_code == 303
    refused = post_form(client, f"/subjects/requests/{request.id}/extend", {"extension_reason": " "}, token_from=f"/subjects/requests/{request.id}")
    assert refused.status_code == 422 and 'id="extension_reason-error"' in refused.text
    extended = post_form(
        client, f"/subjects/requests/{request.id}/extend", {"extension_reason": "Många system"}, token_from=f"/subjects/requests/{request.id}",
    )
    assert extended.status_code == 303
    session.refresh(request)
    assert request.status == "extended" and request.extension_reason == "Många system"
    page = client.get(f"/subjects/requests/{request.id}")
    assert "Många system" in page.text and f'action="/subjects/requests/{request.id}/extend"' not in page.text
    again = post_form(client, f"/subjects/requests/{request.id}/extend", {"extension_reason": "Igen"}, token_from=f"/subjects/requests/{request.id}")
    assert again.status_code == 422


@pytest.mark.parametrize(("form", "field"), [
    ({"kind": "radering", "received_on": "", "notes": ""}, "kind"),
    ({"kind": "access", "received_on": "2026-02-30", "notes": ""}, "received_on"),
    ({"kind": "access", "received_on": "igår", "notes": ""}, "received_on"),
    ({"kind": "access", "received_on": "2999-01-01", "notes": ""}, "received_on"),
    ({"kind": "access", "received_on": "", "notes": "x" * 5000}, "notes"),
    ({"kind": "access", "received_on": "", "notes": "a\x00b"}, "notes"),
])
def test_hostile_forms_are_refused_by_field(client: TestClient, session: Session, form: dict[str, str], field: str) -> None:
    account = _logged_in(client, session)
    refused = post_form(client, "/subjects/requests", form, token_from="/subjects/requests/new")
    assert refused.status_code == 422 and f'id="{field}-error"' in refused.text
    assert not session.exec(select(SubjectRequest).where(SubjectRequest.account_id == account.id)).all()


def test_overdue_requests_are_marked_paged_and_warned_on_the_dashboard(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session)
    today = now().astimezone().date()
    for days_ago in range(60):  # received 0..59 days ago: about half are past their month
        register_request(session, dpo(account), kind="access", received_on=today - timedelta(days=days_ago), now=now())
    first = client.get("/subjects/requests")
    assert first.status_code == 200 and 'class="badge overdue">Försenad' in first.text and 'rel="next"' in first.text
    overdue = client.get("/subjects/requests?status=overdue")
    expected = list_requests(session, dpo(account), status="overdue", now=now()).total
    assert 25 <= expected <= 31 and overdue.text.count('class="badge overdue"') == expected  # every one shown is overdue
    assert client.get("/subjects/requests?status=nonsense").status_code == 200  # an unknown filter shows all
    assert client.get("/subjects/requests?page=2").status_code == 200
    dashboard = client.get("/")
    assert 'id="requests-due"' in dashboard.text and "försenade" in dashboard.text
    assert 'href="/subjects/requests?status=open"' in dashboard.text


def test_the_dashboard_says_nothing_without_requests_due_or_to_other_roles(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.SENDER)
    register_request(session, dpo(account), kind="access", received_on=now().date() - timedelta(days=40), now=now())
    assert 'id="requests-due"' not in client.get("/").text
    assert client.get("/subjects/requests").status_code == 403


def test_export_from_the_request_page_and_download(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session)
    make_contact(session, account, number=NUMBER, name="Åsa Öberg")
    request = register_request(session, dpo(account), kind="access", now=now())
    exported = post_form(
        client, "/subjects/export", {"number": NUMBER, "request_id": str(request.id), "language": "en"}, token_from=f"/subjects/requests/{request.id}",
    )
    assert exported.status_code == 303 and exported.headers["location"] == f"/subjects/requests/{request.id}?done=exported#export"
    assert "0701234567" not in exported.headers["location"]
    export = session.exec(select(SubjectExport).where(SubjectExport.account_id == account.id)).one()
    shown = client.get(f"/subjects/requests/{request.id}?done=exported")
    assert f'href="/subjects/exports/{export.id}.zip"' in shown.text and export.sha256 in shown.text
    download = client.get(f"/subjects/exports/{export.id}.zip")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"] == f'attachment; filename="{request.reference}.zip"'
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        data = json.loads(archive.read("data.json"))
    contact = next(holding for holding in data["holdings"] if holding["table"] == "contact")["records"][0]
    assert contact["name"] == "Åsa Öberg" and contact["number"] == "+46701234567"
    assert len(audit_events(session, "subject.export_downloaded", account.id)) == 1


def test_export_without_a_request_registers_one_and_bad_numbers_are_refused(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session)
    form = client.get("/subjects/export")
    assert form.status_code == 200 and 'name="number"' in form.text
    for number, field in (("abc", "number"), ("", "number"), ("07012\x00", "number")):
        refused = post_form(client, "/subjects/export", {"number": number, "language": "sv"}, token_from="/subjects/export")
        assert refused.status_code == 422 and f'id="{field}-error"' in refused.text, number
    refused = post_form(client, "/subjects/export", {"number": NUMBER, "language": "fi"}, token_from="/subjects/export")
    assert refused.status_code == 422 and 'id="language-error"' in refused.text
    bad_id = post_form(client, "/subjects/export", {"number": NUMBER, "request_id": "1e3"}, token_from="/subjects/export")
    assert bad_id.status_code == 422
    assert not session.exec(select(SubjectRequest).where(SubjectRequest.account_id == account.id)).all()
    made = post_form(client, "/subjects/export", {"number": NUMBER, "language": "sv"}, token_from="/subjects/export")
    assert made.status_code == 303
    request = _only_request(session, account.id)
    assert request.kind == "access" and request.export_id is not None


def test_another_accounts_dpo_gets_404_on_every_page(client: TestClient, session: Session) -> None:
    owner = make_account(session)
    make_contact(session, owner, number=NUMBER, name="Åsa Öberg")
    request = register_request(session, dpo(owner), kind="access", notes="Hemligt", now=now())
    from govsms.personal_data import Person  # noqa: F401  (the export below goes through the service)
    from govsms.registry import all_holdings
    from govsms.subjects.export import create_export
    from govsms.subjects.person import person_for

    export = create_export(session, dpo(owner), all_holdings(), person_for(session, dpo(owner), NUMBER, now=now()), request.id, language="sv", now=now())
    _logged_in(client, session)  # a DPO of another account
    listed = client.get("/subjects/requests")
    assert request.reference not in listed.text
    assert client.get(f"/subjects/requests/{request.id}").status_code == 404
    assert client.get(f"/subjects/exports/{export.id}.zip").status_code == 404
    for path, form in (
        (f"/subjects/requests/{request.id}", {"notes": "mine", "status": "done"}),
        (f"/subjects/requests/{request.id}/extend", {"extension_reason": "mine"}),
        ("/subjects/export", {"number": NUMBER, "request_id": str(request.id)}),
    ):
        assert post_form(client, path, form, token_from="/subjects/requests").status_code == 404, path
    session.refresh(request)
    assert request.status == "open" and request.extended_until is None
    assert not audit_events(session, "subject_request.viewed", owner.id)
    assert not audit_events(session, "subject.export_downloaded", owner.id)


def test_the_api(client: TestClient, session: Session) -> None:
    account, other = make_account(session), make_account(session)
    make_contact(session, account, number=NUMBER, name="Åsa Öberg")
    _key, secret = make_api_key(session, account, roles={Role.DPO})
    _other_key, other_secret = make_api_key(session, other, roles={Role.DPO})
    _sender_key, sender_secret = make_api_key(session, account, roles={Role.SENDER})
    headers, theirs = {"Authorization": f"Bearer {secret}"}, {"Authorization": f"Bearer {other_secret}"}
    assert client.get("/api/v1/subjects/requests", headers={"Authorization": f"Bearer {sender_secret}"}).status_code == 403

    created = client.post("/api/v1/subjects/requests", json={"kind": "erasure", "notes": "Via e-post"}, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["reference"].startswith("DSR-") and body["status"] == "open" and body["notes"] is None
    received = date.fromisoformat(body["received_on"])
    assert body["deadline"] == body["due_on"] and date.fromisoformat(body["due_on"]) > received
    request_id = body["id"]

    shown = client.get(f"/api/v1/subjects/requests/{request_id}", headers=headers).json()
    assert shown["notes"] == "Via e-post"
    changed = client.patch(
        f"/api/v1/subjects/requests/{request_id}", json={"extension_reason": "Komplext", "notes": "Ny"}, headers=headers,
    )
    assert changed.status_code == 200 and changed.json()["status"] == "extended" and changed.json()["extended_until"]
    twice = client.patch(f"/api/v1/subjects/requests/{request_id}", json={"extension_reason": "Igen"}, headers=headers)
    assert twice.status_code == 422 and "extension_reason" in twice.json()["fields"]
    listed = client.get("/api/v1/subjects/requests?status=open&per_page=5", headers=headers).json()
    assert listed["total"] == 1 and listed["items"][0]["notes"] is None and listed["per_page"] == 5

    for hostile in ({"kind": "delete"}, {"kind": "access", "received_on": "2026-13-01"}, {"kind": "access", "notes": "\x07"}, {"kind": 5}, {}):
        answer = client.post("/api/v1/subjects/requests", json=hostile, headers=headers)
        assert answer.status_code in (400, 422) and "error" in answer.json(), hostile
    assert client.get("/api/v1/subjects/requests?status=bogus", headers=headers).status_code == 422
    assert client.patch(f"/api/v1/subjects/requests/{request_id}", json={"status": "closed"}, headers=headers).status_code == 422

    exported = client.post("/api/v1/subjects/exports", json={"number": NUMBER, "request_id": request_id, "language": "en"}, headers=headers)
    assert exported.status_code == 201, exported.text
    answer = exported.json()
    assert answer["reference"] == body["reference"] and answer["download"] == f"/api/v1/subjects/exports/{answer['id']}"
    zipped = client.get(answer["download"], headers=headers)
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert json.loads(archive.read("data.json"))["number"] == "+46701234567"
    assert client.post("/api/v1/subjects/exports", json={"number": "nej"}, headers=headers).status_code == 422
    assert client.post("/api/v1/subjects/exports", json={"number": NUMBER, "language": "de"}, headers=headers).status_code == 422

    # Another account's DPO: empty list, 404 on every read and change.
    assert client.get("/api/v1/subjects/requests", headers=theirs).json()["total"] == 0
    assert client.get(f"/api/v1/subjects/requests/{request_id}", headers=theirs).status_code == 404
    assert client.patch(f"/api/v1/subjects/requests/{request_id}", json={"status": "done"}, headers=theirs).status_code == 404
    assert client.get(answer["download"], headers=theirs).status_code == 404
    assert client.post("/api/v1/subjects/exports", json={"number": NUMBER, "request_id": request_id}, headers=theirs).status_code == 404


def test_a_request_answered_by_an_erasure_links_its_receipt(client: TestClient, session: Session) -> None:
    from govsms.subjects.requests import link_erasure

    account = _logged_in(client, session)
    request = register_request(session, dpo(account), kind="erasure", now=now())
    link_erasure(session, dpo(account), request, 4321, now=now())
    page = client.get(f"/subjects/requests/{request.id}")
    assert 'href="/subjects/erasures/4321/receipt.pdf"' in page.text and 'href="/subjects/erasures/4321/receipt.json"' in page.text
    assert "Klar" in page.text and 'id="extend"' not in page.text  # done: nothing to extend
