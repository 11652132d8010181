"""The pages /subjects (search, result, erasure preview, erasure, receipt) and the API
/api/v1/subjects (search, preview, erasure, receipt) on both backends: the DPO sees the contact,
its groups, the 3 SMS, the block and the access history; previews (a legal hold shown with its
reason), erases and downloads a receipt that verifies; afterwards a search finds only the block.
Another account's DPO finds nothing and gets 404 for the receipt. Numbers travel only in bodies.
Hostile input is a clear 4xx, never a 500."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import text
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.auth import Role
from govsms.retention.holds import place_hold
from govsms.subjects.erasure_models import SubjectErasure
from govsms.subjects.receipt import verify_receipt
from tests.factories import audit_events, make_account, make_api_key, make_user, now
from tests.subjects.people import E164, TYPED, hold_person
from tests.web_helpers import login, post_form


def _dpo_logged_in(client: TestClient, session: Session, account: Account) -> None:
    user, password = make_user(session, account, roles={Role.DPO})
    login(client, user.email, password)


def _post(client: TestClient, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    return post_form(client, path, data, token_from="/subjects")


def test_the_dpo_searches_previews_erases_and_downloads_the_receipt(client: TestClient, session: Session) -> None:
    held = hold_person(session)
    _dpo_logged_in(client, session, held.account)
    assert 'href="/subjects"' in client.get("/").text
    form = client.get("/subjects")
    assert form.status_code == 200 and 'action="/subjects/search"' in form.text and 'name="number"' in form.text

    result = _post(client, "/subjects/search", {"number": TYPED})
    assert result.status_code == 200, result.text[:500]
    for shown in ("Kontakter och grupper", "Skickade sms", "Blockeringslista", "Styrelsen", "Föräldrar 3B", 'id="history"'):
        assert shown in result.text, shown
    assert 'id="held-outbound_message"' in result.text and "<td>3</td>" in result.text
    assert 'action="/subjects/export"' in result.text and 'action="/subjects/erase/preview"' in result.text
    assert f'name="number" value="{E164}"' in result.text  # the number only in hidden fields of POST forms
    searched = audit_events(session, "subject.searched", held.account.id)
    assert len(searched) == 1

    preview = _post(client, "/subjects/erase/preview", {"number": E164})
    assert preview.status_code == 200 and 'id="erase-contact"' in preview.text and 'id="keep-block_entry"' in preview.text
    assert 'name="unblock"' in preview.text and 'action="/subjects/erase"' in preview.text
    unconfirmed = _post(client, "/subjects/erase", {"number": E164})
    assert unconfirmed.status_code == 422 and "Kryssa i rutan" in unconfirmed.text

    erased = _post(client, "/subjects/erase", {"number": E164, "confirm": "1"})
    assert erased.status_code == 303, erased.text[:500]
    location = erased.headers["location"]
    assert location.startswith("/subjects/erasures/") and E164 not in location and "0701" not in location
    done = client.get(location)
    assert done.status_code == 200 and "receipt.json" in done.text and "receipt.pdf?lang=sv" in done.text
    erasure_id = int(location.rsplit("/", 1)[1])
    receipt = client.get(f"/subjects/erasures/{erasure_id}/receipt.json")
    assert receipt.status_code == 200 and receipt.headers["content-type"].startswith("application/json")
    body = verify_receipt(receipt.content)
    assert body["erasure"] == erasure_id and E164.encode() not in receipt.content
    pdf = client.get(f"/subjects/erasures/{erasure_id}/receipt.pdf?lang=en")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert len(audit_events(session, "subject.receipt_downloaded", held.account.id)) == 2

    after = _post(client, "/subjects/search", {"number": TYPED})
    assert after.status_code == 200 and "Blockeringslista" in after.text and "Styrelsen" not in after.text
    assert 'id="held-contact"' not in after.text and 'id="held-outbound_message"' not in after.text
    session.expire_all()
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 0


def test_a_legal_hold_is_shown_in_the_preview_and_refuses(client: TestClient, session: Session) -> None:
    held = hold_person(session)
    place_hold(session, held.dpo, number=TYPED, reason="Tvist om faktura", until=now().date() + timedelta(days=9), now=now())
    _dpo_logged_in(client, session, held.account)
    preview = _post(client, "/subjects/erase/preview", {"number": TYPED})
    assert preview.status_code == 200 and "Tvist om faktura" in preview.text and 'action="/subjects/erase"' not in preview.text
    refused = _post(client, "/subjects/erase", {"number": TYPED, "confirm": "1"})
    assert refused.status_code == 409 and "Tvist om faktura" in refused.text
    assert (now().date() + timedelta(days=9)).isoformat() in refused.text
    assert len(audit_events(session, "subject.erasure_refused", held.account.id)) == 1
    assert session.execute(text("SELECT count(*) FROM contact WHERE id = :c"), {"c": held.contact_id}).scalar_one() == 1


def test_another_accounts_dpo_finds_nothing_and_gets_404(client: TestClient, session: Session) -> None:
    held = hold_person(session)
    erasure = SubjectErasure(account_id=held.account.id, blind_index=bytes(16), status="done", actor="system", started_at=now(), finished_at=now())
    session.add(erasure)
    session.flush()
    stranger = make_account(session)
    _dpo_logged_in(client, session, stranger)
    result = _post(client, "/subjects/search", {"number": TYPED})
    assert result.status_code == 200 and 'id="nothing"' in result.text and "Styrelsen" not in result.text
    for suffix in ("", "/receipt.json", "/receipt.pdf"):
        assert client.get(f"/subjects/erasures/{erasure.id}{suffix}").status_code == 404
    _key, api_key = make_api_key(session, stranger, roles={Role.DPO})
    headers = {"Authorization": f"Bearer {api_key}"}
    found = client.post("/api/v1/subjects/search", json={"number": TYPED}, headers=headers)
    assert found.status_code == 200 and found.json()["found"] is False and found.json()["categories"] == []
    assert client.get(f"/api/v1/subjects/erasures/{erasure.id}/receipt", headers=headers).status_code == 404


def test_the_api_searches_previews_erases_and_gives_the_receipt(client: TestClient, session: Session) -> None:
    held = hold_person(session)
    _key, api_key = make_api_key(session, held.account, roles={Role.DPO})
    headers = {"Authorization": f"Bearer {api_key}", "Accept-Language": "en"}
    found = client.post("/api/v1/subjects/search", json={"number": TYPED}, headers=headers)
    assert found.status_code == 200, found.text
    answer = found.json()
    held_tables = {entry["table"]: entry["count"] for category in answer["categories"] for entry in category["held"]}
    assert held_tables["contact"] == 1 and held_tables["outbound_message"] == 3 and held_tables["block_entry"] == 1
    assert answer["found"] is True and answer["history"]["total"] >= 1
    preview = client.post("/api/v1/subjects/erasures/preview", json={"number": TYPED}, headers=headers)
    assert preview.status_code == 200 and {plan["table"] for plan in preview.json()["kept"]} >= {"block_entry"}
    erased = client.post("/api/v1/subjects/erasures", json={"number": TYPED, "unblock": True}, headers=headers)
    assert erased.status_code == 201, erased.text
    done = erased.json()
    assert done["counts"]["outbound_message"] == 3 and done["counts"]["block_entry"] == 1 and done["reference"].startswith("DSR-")
    receipt = client.get(f"/api/v1/subjects/erasures/{done['erasure_id']}/receipt", headers=headers)
    assert receipt.status_code == 200
    verified = verify_receipt(receipt.content)  # the body is the canonical file, byte for byte
    assert verified == done["receipt"]["receipt"] and json.loads(receipt.content)["signature"] == done["receipt"]["signature"]
    again = client.post("/api/v1/subjects/search", json={"number": TYPED}, headers=headers)
    assert again.json()["found"] is False


HOSTILE = ["", "abc", "9" * 200, "070\x00123", "070\u202e1234567", "+999 123", "<script>"]


@pytest.mark.parametrize("number", HOSTILE)
def test_hostile_numbers_are_refused_clearly(client: TestClient, session: Session, number: str) -> None:
    account = make_account(session)
    _dpo_logged_in(client, session, account)
    for path in ("/subjects/search", "/subjects/erase/preview", "/subjects/erase"):
        answer = _post(client, path, {"number": number, "confirm": "1"})
        assert 400 <= answer.status_code < 500, f"{path}: {answer.status_code}"
        assert 'class="field-error"' in answer.text or 'class="error"' in answer.text
    _key, api_key = make_api_key(session, account, roles={Role.DPO})
    headers = {"Authorization": f"Bearer {api_key}"}
    for path in ("/api/v1/subjects/search", "/api/v1/subjects/erasures/preview", "/api/v1/subjects/erasures"):
        answer = client.post(path, json={"number": number}, headers=headers)
        assert 400 <= answer.status_code < 500, f"{path}: {answer.status_code}"
        assert answer.json()["message"]


def test_hostile_bodies_are_refused_clearly(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _key, api_key = make_api_key(session, account, roles={Role.DPO})
    headers = {"Authorization": f"Bearer {api_key}"}
    for body in ({}, {"number": 46701234567}, {"number": TYPED, "request_id": "x"}, {"number": TYPED, "request_id": 0},
                 {"number": TYPED, "request_id": 2**40}, {"number": TYPED, "page": 0}, [1, 2]):
        answer = client.post("/api/v1/subjects/search", json=body, headers=headers)
        assert 400 <= answer.status_code < 500 and answer.json()["message"], body
    for path in ("/api/v1/subjects/erasures/preview", "/api/v1/subjects/erasures"):
        answer = client.post(path, json={"number": TYPED, "unblock": "yes"}, headers=headers)
        assert 400 <= answer.status_code < 500 and answer.json()["message"], path
    assert client.post("/api/v1/subjects/search", content=b"{not json", headers={**headers, "Content-Type": "application/json"}).status_code == 400
    _dpo_logged_in(client, session, account)
    for request_id in ("x", "0", "99999999999", "١"):
        answer = _post(client, "/subjects/search", {"number": TYPED, "request_id": request_id})
        assert 400 <= answer.status_code < 500, request_id
    assert _post(client, "/subjects/search", {"number": TYPED, "request_id": "2147483647"}).status_code == 404
    assert client.get("/subjects/erasures/0/receipt.json").status_code in (400, 404, 422)


def test_a_foreign_number_is_searched_in_full(client: TestClient, session: Session) -> None:
    """Another country's mobile number is a number like any other (SMS go abroad): an empty result, not an error."""
    account = make_account(session)
    _dpo_logged_in(client, session, account)
    answer = _post(client, "/subjects/search", {"number": "+45 20 12 34 56"})
    assert answer.status_code == 200 and 'id="nothing"' in answer.text


def test_a_sender_has_no_way_in(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    assert client.get("/subjects").status_code == 403
    assert _post(client, "/subjects/search", {"number": TYPED}).status_code == 403
    _key, api_key = make_api_key(session, account, roles={Role.SENDER})
    assert client.post("/api/v1/subjects/search", json={"number": TYPED}, headers={"Authorization": f"Bearer {api_key}"}).status_code == 403
