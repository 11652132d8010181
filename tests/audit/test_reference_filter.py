"""The access log filtered by a data-subject request's reference (issue 13, "the auditor finds every
search, export and erasure by the request reference after the erasure"), and the DPO reading the
access log of their own account (issue 13 item 6). Both backends, across accounts."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from sqlalchemy import text
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.audit.service import AuditFilter, list_events
from govsms.auth import Actor, Permission, Role, permissions_for
from govsms.errors import InvalidInput
from govsms.keys.store import vault_of
from govsms.sending.pricing import seed_default_prices
from tests.factories import make_account, make_api_key, make_contact, make_dispatch, make_user, now, system
from tests.web_helpers import login, post_form

REFERENCE = "DSR-2026-0001"
NUMBER, E164 = "070-123 45 67", "+46701234567"
REQUEST_ACTIONS = (Action.SUBJECT_REQUEST_REGISTERED, Action.SUBJECT_SEARCHED, Action.SUBJECT_EXPORTED, Action.SUBJECT_ERASED)


def _request_history(session: Session, account: Account) -> tuple[set[int], int]:
    """A person's request DSR-2026-0001 (registered, searched, exported, erased), another request's
    search, and an event of another kind whose target id happens to read the same. Returns the
    seqs of the request's events and the person's subject id."""
    actor = system(account)
    subject = vault_of(session).subject(session, account.id, E164, now=now())  # type: ignore[arg-type]
    seqs = {
        record_event(session, actor, action, now=now(), target=("subject_request", REFERENCE), subjects=[subject.id], details={"request": 1})
        for action in REQUEST_ACTIONS
    }
    record_event(session, actor, Action.SUBJECT_SEARCHED, now=now(), target=("subject_request", "DSR-2026-0002"), subjects=[subject.id])
    record_event(session, actor, Action.CONTACT_VIEWED, now=now(), target=("contact", REFERENCE))
    return seqs, subject.id


def _destroy_key(session: Session, account_id: int, subject_id: int) -> None:
    """As an erasure leaves it: the person's data key is gone (so is the blind index leading to it)."""
    vault = vault_of(session)
    with vault.key_store(session) as store:
        store.execute(text("DELETE FROM subject_key WHERE id = :id AND account_id = :account"), {"id": subject_id, "account": account_id})
    vault.cache.forget([(account_id, subject_id)])
    assert vault.find_subjects(session, account_id, [E164], now=now()) == {}


def _dpo(session: Session, account: Account) -> tuple[Actor, str, str]:
    user, password = make_user(session, account, roles={Role.DPO})
    return actor_for_user(user, account), user.email, password


def _seqs(html: str) -> set[int]:
    rows = html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""
    return {int(seq) for seq in re.findall(r"<tr>\s*<td>(\d+)", rows)}


def test_the_reference_finds_the_requests_events_after_the_key_is_gone_and_only_the_accounts_own(session: Session) -> None:
    ours, theirs = make_account(session), make_account(session)
    expected, subject_id = _request_history(session, ours)
    their_seqs, _their_subject = _request_history(session, theirs)  # the same reference: references count per account
    _destroy_key(session, ours.id, subject_id)  # type: ignore[arg-type]
    dpo, _email, _password = _dpo(session, ours)

    for typed in (REFERENCE, " dsr-2026-0001 "):
        found = list_events(session, dpo, AuditFilter(reference=typed), now=now())
        assert {event.seq for event in found.items} == expected and found.total == 4
        assert {event.action for event in found.items} == {action.value for action in REQUEST_ACTIONS}
        assert all(event.target_type == "subject_request" and event.target_id == REFERENCE for event in found.items)
    # With the other filters: they narrow it further.
    searched = list_events(session, dpo, AuditFilter(reference=REFERENCE, action=Action.SUBJECT_SEARCHED.value), now=now())
    assert searched.total == 1
    assert list_events(session, dpo, AuditFilter(reference="DSR-2026-0003"), now=now()).total == 0

    their_dpo, _email, _password = _dpo(session, theirs)
    found = list_events(session, their_dpo, AuditFilter(reference=REFERENCE), now=now())
    assert {event.seq for event in found.items} == their_seqs and not their_seqs & expected


@pytest.mark.parametrize(
    "typed",
    ["DSR-2026-1", "DSR-26-0001", "DSR-2026-0001x", "X DSR-2026-0001", "DSR-2026-0001\x00", "DSR–2026–0001", "DSR-२०२६-0001",
     "DSR-2026-0001' OR '1'='1", "%", "DSR-2026-%", "D" * 5000, "DSR-2026-000000001"],
)
def test_anything_but_a_reference_is_refused_with_what_one_looks_like(session: Session, typed: str) -> None:
    account = make_account(session)
    dpo, _email, _password = _dpo(session, account)
    with pytest.raises(InvalidInput) as refused:
        list_events(session, dpo, AuditFilter(reference=typed), now=now())
    assert "DSR-2026-0001" in refused.value.fields["reference"]


def test_the_page_filters_by_reference_in_the_address_or_the_form(client: TestClient, session: Session) -> None:
    ours, theirs = make_account(session), make_account(session)
    expected, subject_id = _request_history(session, ours)
    _request_history(session, theirs)
    _destroy_key(session, ours.id, subject_id)  # type: ignore[arg-type]
    _dpo_actor, email, password = _dpo(session, ours)
    login(client, email, password)

    page = client.get("/audit", params={"reference": REFERENCE})
    assert page.status_code == 200 and _seqs(page.text) == expected and "(4)" in page.text
    assert 'name="reference"' in page.text and f'value="{REFERENCE}"' in page.text
    posted = post_form(client, "/audit", {"reference": REFERENCE}, token_from="/audit")
    assert posted.status_code == 200 and _seqs(posted.text) == expected

    wrong = client.get("/audit", params={"reference": "DSR-1"})
    assert wrong.status_code == 422 and "DSR-2026-0001" in wrong.text and 'id="reference-error"' in wrong.text
    assert "<tbody>" not in wrong.text
    for hostile in ("<script>alert(1)</script>", "DSR-2026-0001\x00", "x" * 10_000, "DSR-2026-00%27"):
        response = post_form(client, "/audit", {"reference": hostile}, token_from="/audit")
        assert response.status_code == 422, (hostile[:20], response.status_code)
        assert "<script>alert(1)</script>" not in response.text


def test_the_api_filters_by_reference_and_refuses_a_malformed_one(client: TestClient, session: Session) -> None:
    ours, theirs = make_account(session), make_account(session)
    expected, subject_id = _request_history(session, ours)
    their_seqs, _their_subject = _request_history(session, theirs)
    _destroy_key(session, ours.id, subject_id)  # type: ignore[arg-type]
    _key, token = make_api_key(session, ours, roles={Role.AUDITOR})
    headers = {"Authorization": f"Bearer {token}"}

    listed = client.get("/api/v1/audit", params={"reference": REFERENCE}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert {item["seq"] for item in listed.json()["items"]} == expected
    assert all(item["target"] == {"type": "subject_request", "id": REFERENCE} for item in listed.json()["items"])
    # The number search takes the reference too (the person still has a key in the other account).
    _other_key, their_token = make_api_key(session, theirs, roles={Role.DPO})
    both = client.post(
        "/api/v1/audit/search", json={"number": NUMBER, "reference": REFERENCE}, headers={"Authorization": f"Bearer {their_token}"},
    )
    assert both.status_code == 200 and {item["seq"] for item in both.json()["items"]} == their_seqs

    for hostile in ("DSR-1", "", " ", "DSR-2026-0001\x00", "'; DROP TABLE audit_event; --", "x" * 5000):
        response = client.get("/api/v1/audit", params={"reference": hostile}, headers=headers)
        if hostile.strip() == "":
            assert response.status_code == 422 or (response.status_code == 200 and response.json()["total"] > 4), hostile
            continue
        assert response.status_code in (400, 422), (hostile[:20], response.status_code)
        if response.status_code == 422:
            assert "DSR-2026-0001" in response.text
    assert client.get("/api/v1/audit", params={"reference": "DSR-1"}, headers=headers).status_code == 422


def test_the_dpo_reads_the_access_log_of_their_own_account_only(client: TestClient, session: Session) -> None:
    ours, theirs = make_account(session), make_account(session)
    _request_history(session, ours)
    their_seqs, _their_subject = _request_history(session, theirs)
    _dpo_actor, email, password = _dpo(session, ours)
    login(client, email, password)

    page = client.get("/audit")
    assert page.status_code == 200
    shown = _seqs(page.text)
    assert len(shown) >= 6 and not shown & their_seqs
    assert 'href="/audit"' in page.text  # in the DPO's navigation
    assert post_form(client, "/audit/verify", {}, token_from="/audit").status_code == 200

    _key, token = make_api_key(session, ours, roles={Role.DPO})
    listed = client.get("/api/v1/audit", params={"per_page": 100}, headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    seqs = {item["seq"] for item in listed.json()["items"]}
    assert len(seqs) >= 6 and not seqs & their_seqs
    # Another account's reference, same text: only our own events.
    by_reference = client.get("/api/v1/audit", params={"reference": REFERENCE}, headers={"Authorization": f"Bearer {token}"})
    assert by_reference.json()["total"] == 4 and not {item["seq"] for item in by_reference.json()["items"]} & their_seqs


def test_what_the_access_log_opens_shows_no_number_name_or_text(client: TestClient, session: Session) -> None:
    """AUDIT_READ (the auditor's and now the DPO's) opens the log, its verification and its
    export: none of them shows a number, a contact's name or a message's text."""
    seed_default_prices(session, now=now())
    account = make_account(session)
    sender, _sender_password = make_user(session, account, roles={Role.SENDER})
    actor = actor_for_user(sender, account)
    make_contact(session, account, number=E164, name="Yngve Ödmark")
    make_dispatch(session, actor, numbers=[NUMBER], text="Provsvaret är klart, välkommen")
    _request_history(session, account)
    forbidden = ("Yngve", "Ödmark", "Provsvaret", "välkommen", "123 45 67", "701234567")
    for role in (Role.DPO, Role.AUDITOR):
        user, password = make_user(session, account, roles={role})
        client.cookies.clear()
        login(client, user.email, password)
        _key, token = make_api_key(session, account, roles={role})
        headers = {"Authorization": f"Bearer {token}"}
        for response in (
            client.get("/audit"),
            post_form(client, "/audit", {"number": NUMBER}, token_from="/audit"),
            post_form(client, "/audit/verify", {}, token_from="/audit"),
            client.get("/audit/export"),
            client.get("/api/v1/audit", params={"per_page": 100}, headers=headers),
            client.post("/api/v1/audit/search", json={"number": NUMBER}, headers=headers),
            client.get("/api/v1/audit/verify", headers=headers),
        ):
            assert response.status_code == 200, (role, response.url, response.status_code)
            body = response.text.replace(f'value="{NUMBER}"', "")  # the number the DPO typed, echoed in the form
            leaked = [word for word in forbidden if word in body]
            assert not leaked, (role, str(response.url), leaked)


def test_the_admin_handles_subject_requests_and_the_dpo_reads_the_log() -> None:
    assert Permission.SUBJECTS in permissions_for({Role.ADMIN})
    assert Permission.AUDIT_READ in permissions_for({Role.DPO})
    # The auditor keeps read-only access: still no content, no subjects, no sending.
    auditor = permissions_for({Role.AUDITOR})
    assert auditor == {Permission.AUDIT_READ, Permission.DPA_READ}
    # Neither role gained the senders' content: no sent messages, contacts or sending. The admin
    # reads the inbox (issue 14: /inbox is for senders and admins); the DPO does not.
    for role in (Role.ADMIN, Role.DPO):
        assert not permissions_for({role}) & {Permission.MESSAGES_READ, Permission.CONTACTS, Permission.SEND}
    assert Permission.INBOX in permissions_for({Role.ADMIN})
    assert Permission.INBOX not in permissions_for({Role.DPO})
