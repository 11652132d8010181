"""What the pages and the API answer when a request is used for another person or after it was
closed, both backends: a 409 with the message, the form shown again (never a 500), and nothing
linked, exported or erased."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlmodel import Session, select

from govsms.auth import Role
from govsms.lifecycle import lifecycle_holdings
from govsms.subjects.models import SubjectExport
from govsms.subjects.requests import find_request, register_request, update_request
from govsms.subjects.search import search_subject
from tests.factories import make_api_key, make_user, now
from tests.subjects.people import OTHER, TYPED, hold_person
from tests.web_helpers import login, post_form

ANOTHER = ("This request is about another person: register a new one.", "Ärendet gäller en annan person: registrera ett nytt.")
CLOSED = (
    "This request is closed (done or refused): reopen it, or register a new one.",
    "Ärendet är avslutat (klart eller avslaget): öppna det igen, eller registrera ett nytt.",
)


def _says(text: str, message: tuple[str, str]) -> bool:
    return any(said in text for said in message)


def test_another_persons_or_a_closed_request_is_refused_with_409_on_the_pages_and_the_api(client: TestClient, session: Session) -> None:
    held = hold_person(session)
    theirs = register_request(session, held.dpo, kind="access", now=now())
    search_subject(session, held.dpo, lifecycle_holdings(), OTHER, request_id=theirs.id, now=now())
    other_subject = find_request(session, held.dpo, theirs.id).subject_id
    closed = register_request(session, held.dpo, kind="erasure", now=now())
    update_request(session, held.dpo, closed.id, status="done", now=now())
    user, password = make_user(session, held.account, roles={Role.DPO})
    login(client, user.email, password)

    for request_id, message in ((theirs.id, ANOTHER), (closed.id, CLOSED)):
        fields = {"number": TYPED, "request_id": str(request_id)}
        searched = post_form(client, "/subjects/search", fields, token_from="/subjects")
        assert searched.status_code == 409 and _says(searched.text, message) and 'name="number"' in searched.text
        exported = post_form(client, "/subjects/export", {**fields, "language": "sv"}, token_from=f"/subjects/requests/{request_id}")
        assert exported.status_code == 409 and _says(exported.text, message)
        erased = post_form(client, "/subjects/erase", {**fields, "confirm": "1"}, token_from="/subjects")
        assert erased.status_code == 409 and _says(erased.text, message)

    _key, secret = make_api_key(session, held.account, roles={Role.DPO})
    headers = {"Authorization": f"Bearer {secret}"}
    for request_id, message in ((theirs.id, ANOTHER), (closed.id, CLOSED)):
        body = {"number": TYPED, "request_id": request_id}
        for path, extra in (("/api/v1/subjects/search", {}), ("/api/v1/subjects/exports", {"language": "sv"}),
                            ("/api/v1/subjects/erasures", {})):
            answered = client.post(path, json={**body, **extra}, headers=headers)
            assert answered.status_code == 409 and _says(answered.text, message), (path, answered.status_code, answered.text[:200])

    session.expire_all()
    stored = find_request(session, held.dpo, theirs.id)
    assert (stored.subject_id, stored.export_id, stored.erasure_id, stored.status) == (other_subject, None, None, "open")
    assert find_request(session, held.dpo, closed.id).subject_id is None
    assert not session.exec(select(SubjectExport).where(SubjectExport.account_id == held.account.id)).all()
