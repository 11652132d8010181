"""Answers that tell something about a person (or a member of staff) are reads, and reads are in
the access log: a number's blocklist status, "already a contact", the import check's count of
known numbers, and the list of an account's users. Each test asserts the event (action, actor,
account, subject) and that its details hold nothing personal, and tries it from another account.
On both backends."""

from __future__ import annotations

import json
import re

from litestar.testing import TestClient
from sqlalchemy import select
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.contacts.models import Contact
from govsms.keys.store import vault_of
from tests.factories import audit_events, linked_subjects, make_account, make_api_key, make_user, now
from tests.web_helpers import csrf_token, login, post_form

NUMBER = "+46701234567"
NATIONAL = "070-123 45 67"
OTHER = "+46709876543"


def subject_of(session: Session, account_id: int, number: str) -> int | None:
    found = vault_of(session).find_subjects(session, account_id, [number], now=now())
    return found[number].id if number in found else None


def assert_nothing_personal(event: AuditEvent, *secrets: str) -> None:
    """Details are ids, counts and short codes; no number (in any writing), name or address."""
    details = json.loads(event.details)
    assert all(value is None or isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= 64) for value in details.values())
    flat = " ".join(str(part) for part in (event.details, event.target_id, event.target_type, event.subject_ids))
    for secret in (*secrets, "701234567", "709876543", "70123", "@"):
        assert secret not in flat, secret


def api_client(session: Session, roles: set[Role] | None = None):  # type: ignore[no-untyped-def]
    account = make_account(session)
    api_key, key = make_api_key(session, account, roles=roles or {Role.SENDER})
    return account, f"api_key:{api_key.id}", {"Authorization": f"Bearer {key}"}


# -- the blocklist status of a number -------------------------------------------------------------


def test_api_blocklist_check_is_logged_naming_the_subject(client: TestClient, session: Session) -> None:
    account_a, actor_a, headers_a = api_client(session)
    account_b, actor_b, headers_b = api_client(session)
    assert client.post("/api/v1/contacts", json={"number": NUMBER, "name": "Åsa Öberg"}, headers=headers_a).status_code == 201
    assert client.post("/api/v1/blocklist", json={"number": NUMBER}, headers=headers_a).status_code == 201
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]
    assert subject_a is not None

    answer = client.post("/api/v1/blocklist/search", json={"number": NATIONAL}, headers=headers_a)
    assert answer.status_code == 200 and answer.json()["blocked"] is True
    [checked] = audit_events(session, "blocklist.checked", account_a.id)
    assert checked.actor == actor_a and checked.account_id == account_a.id
    assert linked_subjects(session, checked) == {subject_a}
    assert_nothing_personal(checked, NUMBER, "Åsa")

    # Account B asks about A's number: B's own list answers (not blocked), logged under B only.
    other = client.post("/api/v1/blocklist/search", json={"number": NUMBER}, headers=headers_b)
    assert other.status_code == 200 and other.json()["blocked"] is False and other.json()["source"] is None
    assert len(audit_events(session, "blocklist.checked", account_a.id)) == 1
    [checked_b] = audit_events(session, "blocklist.checked", account_b.id)
    assert checked_b.actor == actor_b and subject_a not in linked_subjects(session, checked_b)
    assert_nothing_personal(checked_b, NUMBER)


def test_ui_blocklist_check_is_logged(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    assert post_form(client, "/contacts", {"number": NUMBER}, token_from="/contacts").status_code == 303
    assert post_form(client, "/blocklist", {"number": NUMBER, "action": "block"}, token_from="/blocklist").status_code == 200
    page = post_form(client, "/blocklist", {"number": NATIONAL, "action": "check"}, token_from="/blocklist")
    assert page.status_code == 200 and 'id="check-result"' in page.text
    [checked] = audit_events(session, "blocklist.checked", account.id)
    assert checked.actor == f"user:{user.id}"
    assert linked_subjects(session, checked) == {subject_of(session, account.id, NUMBER)}  # type: ignore[arg-type]
    assert_nothing_personal(checked, NUMBER)


# -- "already a contact" --------------------------------------------------------------------------


def test_api_already_a_contact_is_logged_and_survives_the_refusal(client: TestClient, session: Session) -> None:
    account_a, actor_a, headers_a = api_client(session)
    account_b, actor_b, headers_b = api_client(session)
    first = client.post("/api/v1/contacts", json={"number": NUMBER, "name": "Åsa Öberg"}, headers=headers_a)
    assert first.status_code == 201
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]
    contacts_before = session.execute(select(Contact.id)).scalars().all()

    again = client.post("/api/v1/contacts", json={"number": NATIONAL, "name": "Någon"}, headers=headers_a)
    assert again.status_code == 409 and "number" in again.json()["fields"]
    [known] = audit_events(session, "contact.already_exists", account_a.id)  # committed although the answer was 409
    assert known.actor == actor_a and known.target_type == "contact" and known.target_id == str(first.json()["id"])
    assert linked_subjects(session, known) == {subject_a}
    assert_nothing_personal(known, NUMBER, "Någon", "Åsa")
    assert session.execute(select(Contact.id)).scalars().all() == contacts_before  # nothing else was written

    # Changing another contact to that number is the same answer.
    second = client.post("/api/v1/contacts", json={"number": OTHER}, headers=headers_a).json()
    moved = client.patch(f"/api/v1/contacts/{second['id']}", json={"number": NUMBER}, headers=headers_a)
    assert moved.status_code == 409
    assert [event.target_id for event in audit_events(session, "contact.already_exists", account_a.id)] == [str(first.json()["id"])] * 2

    # Account B learns nothing about A's contacts: the number is new to B, and nothing is logged under A.
    own = client.post("/api/v1/contacts", json={"number": NUMBER}, headers=headers_b)
    assert own.status_code == 201
    assert audit_events(session, "contact.already_exists", account_b.id) == []
    twice = client.post("/api/v1/contacts", json={"number": NUMBER}, headers=headers_b)
    assert twice.status_code == 409
    [known_b] = audit_events(session, "contact.already_exists", account_b.id)
    assert known_b.actor == actor_b and linked_subjects(session, known_b) == {subject_of(session, account_b.id, NUMBER)}
    assert subject_a not in linked_subjects(session, known_b)
    assert len(audit_events(session, "contact.already_exists", account_a.id)) == 2


def test_ui_already_a_contact_is_logged(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    created = post_form(client, "/contacts", {"number": NUMBER, "name": "Åsa"}, token_from="/contacts")
    assert created.status_code == 303
    duplicate = post_form(client, "/contacts", {"number": NATIONAL, "name": "Åsa"}, token_from="/contacts")
    assert duplicate.status_code == 409 and 'id="number-error"' in duplicate.text
    [known] = audit_events(session, "contact.already_exists", account.id)
    assert known.actor == f"user:{user.id}"
    assert linked_subjects(session, known) == {subject_of(session, account.id, NUMBER)}  # type: ignore[arg-type]
    assert_nothing_personal(known, NUMBER, "Åsa")
    contact_id = created.headers["location"].split("/")[2].split("?")[0]
    other = post_form(client, "/contacts", {"number": OTHER}, token_from="/contacts")
    moved = post_form(client, other.headers["location"].split("?")[0], {"number": NUMBER}, token_from="/contacts")
    assert moved.status_code == 409
    assert [event.target_id for event in audit_events(session, "contact.already_exists", account.id)] == [contact_id] * 2


# -- the import check's "existing" count ----------------------------------------------------------


def _csv(*numbers: str) -> bytes:
    return ("nummer;namn\n" + "".join(f"{number};Person\n" for number in numbers)).encode()


def test_api_import_dry_run_logs_the_known_numbers(client: TestClient, session: Session) -> None:
    account_a, actor_a, headers_a = api_client(session)
    account_b, actor_b, headers_b = api_client(session)
    assert client.post("/api/v1/contacts", json={"number": NUMBER}, headers=headers_a).status_code == 201
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]
    file = {"file": ("lista.csv", _csv(NATIONAL, OTHER), "text/csv")}

    dry = client.post("/api/v1/contacts/import", data={"dry_run": "true"}, files=file, headers=headers_a)
    assert dry.status_code == 201 and dry.json()["existing"] == 1 and dry.json()["valid"] == 2
    [checked] = audit_events(session, "contacts.import_checked", account_a.id)
    assert checked.actor == actor_a and linked_subjects(session, checked) == {subject_a}
    assert json.loads(checked.details)["existing"] == 1
    assert_nothing_personal(checked, NUMBER, OTHER, "lista")

    # B's check of the same file finds none of A's contacts, and names no subject of A's.
    other = client.post("/api/v1/contacts/import", data={"dry_run": "true"}, files=file, headers=headers_b)
    assert other.status_code == 201 and other.json()["existing"] == 0
    [checked_b] = audit_events(session, "contacts.import_checked", account_b.id)
    assert checked_b.actor == actor_b and linked_subjects(session, checked_b) == set()
    assert len(audit_events(session, "contacts.import_checked", account_a.id)) == 1


def test_ui_import_preview_logs_the_known_numbers(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    assert post_form(client, "/contacts", {"number": NUMBER}, token_from="/contacts").status_code == 303
    token = csrf_token(client, "/contacts/import")
    preview = client.post(
        "/contacts/import", data={"_csrf_token": token}, files={"file": ("lista.csv", _csv(NUMBER, OTHER), "text/csv")}
    )
    assert preview.status_code == 200
    [checked] = audit_events(session, "contacts.import_checked", account.id)
    assert checked.actor == f"user:{user.id}"
    assert linked_subjects(session, checked) == {subject_of(session, account.id, NUMBER)}  # type: ignore[arg-type]
    assert_nothing_personal(checked, NUMBER, OTHER)
    # Confirming without a group is refused and shows the preview (and its count) again.
    action = re.search(r'action="(/contacts/import/[0-9a-f]+)"', preview.text).group(1)  # type: ignore[union-attr]
    refused = post_form(client, action, {"group_name": ""}, token_from="/contacts/import")
    assert refused.status_code == 422 and action in refused.text
    assert len(audit_events(session, "contacts.import_checked", account.id)) == 2


# -- staff lists ----------------------------------------------------------------------------------


def test_listing_users_is_logged_and_stays_in_the_account(client: TestClient, session: Session) -> None:
    account_a = make_account(session)
    account_b = make_account(session)
    admin_a, password_a = make_user(session, account_a, roles={Role.ADMIN}, email="chef@kommun-a.se", display_name="Astrid Admin")
    colleague, _ = make_user(session, account_a, email="kollega@kommun-a.se", display_name="Kalle Kollega")
    admin_b, password_b = make_user(session, account_b, roles={Role.ADMIN}, email="chef@kommun-b.se")

    login(client, admin_a.email, password_a)
    users = client.get("/settings/users")
    assert users.status_code == 200 and "kollega@kommun-a.se" in users.text
    [listed] = audit_events(session, "users.listed", account_a.id)
    assert listed.actor == f"user:{admin_a.id}" and linked_subjects(session, listed) == set()
    assert json.loads(listed.details)["shown"] == 2
    assert_nothing_personal(listed, "kollega", "Kalle", "chef", "Astrid")
    one = client.get(f"/settings/users/{colleague.id}")
    assert one.status_code == 200
    [viewed] = audit_events(session, "user.viewed", account_a.id)
    assert viewed.actor == f"user:{admin_a.id}" and viewed.target_type == "user" and viewed.target_id == str(colleague.id)
    assert_nothing_personal(viewed, "kollega", "Kalle")
    post_form(client, "/logout", {}, token_from="/")

    # B's admin sees only B's staff, cannot open A's, and every attempt is logged under B.
    login(client, admin_b.email, password_b)
    users_b = client.get("/settings/users")
    assert users_b.status_code == 200 and "kommun-a.se" not in users_b.text
    assert client.get(f"/settings/users/{colleague.id}").status_code == 404
    [listed_b] = audit_events(session, "users.listed", account_b.id)
    assert listed_b.actor == f"user:{admin_b.id}" and json.loads(listed_b.details)["shown"] == 1
    assert len(audit_events(session, "users.listed", account_a.id)) == 1 and len(audit_events(session, "user.viewed", account_a.id)) == 1


# -- a send refused because every number is blocked -----------------------------------------------


def test_api_send_refused_as_all_blocked_is_logged_and_survives_the_refusal(client: TestClient, session: Session) -> None:
    from govsms.sending.models import Dispatch
    from govsms.sending.pricing import seed_default_prices

    seed_default_prices(session, now=now())
    account_a, actor_a, headers_a = api_client(session, roles={Role.SENDER, Role.ADMIN})
    account_b, _actor_b, headers_b = api_client(session, roles={Role.SENDER, Role.ADMIN})
    assert client.post("/api/v1/contacts", json={"number": NUMBER, "name": "Åsa Öberg"}, headers=headers_a).status_code == 201
    assert client.post("/api/v1/blocklist", json={"number": NUMBER}, headers=headers_a).status_code == 201
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]
    assert subject_a is not None
    body = {"from": "Kommunen", "to": [NATIONAL], "text": "Hej"}
    refused = client.post("/api/v1/messages", json=body, headers=headers_a)
    assert refused.status_code == 422 and "to" in refused.json()["fields"]
    [looked] = audit_events(session, "dispatch.previewed", account_a.id)  # committed although the answer was 422
    assert looked.actor == actor_a and linked_subjects(session, looked) == {subject_a}
    assert json.loads(looked.details)["blocked"] == 1
    assert_nothing_personal(looked, NUMBER)
    assert session.execute(select(Dispatch.id).where(Dispatch.account_id == account_a.id)).all() == []
    # Account B: the number is not blocked there; A's log gets nothing.
    assert client.post("/api/v1/messages", json=body, headers=headers_b).status_code == 201
    assert len(audit_events(session, "dispatch.previewed", account_a.id)) == 1


def test_ui_send_refused_as_all_blocked_is_logged(client: TestClient, session: Session) -> None:
    from govsms.sending.pricing import seed_default_prices

    seed_default_prices(session, now=now())
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    assert post_form(client, "/contacts", {"number": NUMBER}, token_from="/contacts").status_code == 303
    assert post_form(client, "/blocklist", {"number": NUMBER, "action": "block"}, token_from="/blocklist").status_code == 200
    before = len(audit_events(session, "dispatch.previewed", account.id))
    page = post_form(client, "/send/confirm", {"sender": "Kommunen", "to": NATIONAL, "text": "Hej", "idempotency_key": "k1"}, token_from="/send")
    assert page.status_code == 422
    looked = audit_events(session, "dispatch.previewed", account.id)
    assert len(looked) == before + 1 and looked[-1].actor == f"user:{user.id}"
    assert linked_subjects(session, looked[-1]) == {subject_of(session, account.id, NUMBER)}  # type: ignore[arg-type]
    assert_nothing_personal(looked[-1], NUMBER)


def test_an_idempotency_key_answered_again_or_refused_is_logged(client: TestClient, session: Session) -> None:
    """Resending a key with a guessed recipient answered 201 (the earlier dispatch) on a right
    guess and 409 on a wrong one, with no trace: each answer is now an event on that dispatch,
    the 409's kept although the request is refused; another account's key finds nothing."""
    from govsms.sending.pricing import seed_default_prices

    seed_default_prices(session, now=now())
    account_a, account_b = make_account(session), make_account(session)
    _row, key_a = make_api_key(session, account_a, roles={Role.SENDER})
    _row, key_b = make_api_key(session, account_b, roles={Role.SENDER})
    body = {"from": "Kommunen", "to": [NUMBER], "text": "Din tid är i morgon"}
    headers_a = {"Authorization": f"Bearer {key_a}", "Idempotency-Key": "tid-7"}
    first = client.post("/api/v1/messages", json=body, headers=headers_a)
    assert first.status_code == 201
    dispatch_id = str(first.json()["dispatch_id"])
    assert client.post("/api/v1/messages", json=body, headers=headers_a).json()["dispatch_id"] == int(dispatch_id)
    [replayed] = audit_events(session, "dispatch.replayed", account_a.id)
    assert (replayed.target_type, replayed.target_id, replayed.actor) == ("dispatch", dispatch_id, replayed.actor)
    wrong = client.post("/api/v1/messages", json={**body, "to": [OTHER]}, headers=headers_a)
    assert wrong.status_code == 409
    [conflict] = audit_events(session, "dispatch.key_conflict", account_a.id)
    assert conflict.target_id == dispatch_id and OTHER not in conflict.details and NUMBER not in conflict.details
    other = client.post("/api/v1/messages", json=body, headers={"Authorization": f"Bearer {key_b}", "Idempotency-Key": "tid-7"})
    assert other.status_code == 201 and other.json()["dispatch_id"] != int(dispatch_id)
    assert audit_events(session, "dispatch.replayed", account_b.id) == [] and len(audit_events(session, "dispatch.replayed", account_a.id)) == 1
