"""One bad row never breaks a page: a value that does not decrypt (altered bytes, a value moved
from another row, a person's key shredded while their rows stayed) is shown as "cannot be read"
for that row, and recorded as a ``data.unreadable`` event naming the table and row (never any
content). Every list, detail and export that decrypts answers 200 with the other rows readable;
a send to the group skips the unreadable member. On both backends."""

from __future__ import annotations

import io
import json

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.contacts.models import Contact
from govsms.phone import readable
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from tests.conftest import not_applicable
from tests.factories import make_account, make_api_key, make_user, now
from tests.sending.test_outbox_recording import db  # noqa: F401  (the fixture: a database with committed data, as the worker needs)
from tests.web_helpers import login, post_form

PEOPLE = [("+46701111111", "Anna Andersson"), ("+46702222222", "Bertil Berglund"), ("+46703333333", "Cecilia Carlsson")]
BAD_NUMBER, BAD_NAME = PEOPLE[1]
MARKER_SV = "kan inte läsas"
MODES = ["altered", "moved", "shredded", "key_altered"]


class Setup:
    def __init__(self, client: TestClient, session: Session) -> None:
        seed_default_prices(session, now=now())
        self.account = make_account(session)
        api_key, key = make_api_key(session, self.account, roles={Role.SENDER})
        self.api_actor = f"api_key:{api_key.id}"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.user, self.password = make_user(session, self.account, roles={Role.SENDER})
        self.group = client.post("/api/v1/groups", json={"name": "Alla"}, headers=self.headers).json()["id"]
        self.contacts = [
            client.post("/api/v1/contacts", json={"number": number, "name": name, "group_ids": [self.group]}, headers=self.headers).json()["id"]
            for number, name in PEOPLE
        ]
        sent = client.post("/api/v1/messages", json={"from": "Skolan", "to": [number for number, _ in PEOPLE], "text": "Hej"}, headers=self.headers)
        assert sent.status_code == 201, sent.text
        self.dispatch = sent.json()["dispatch_id"]
        rows = session.execute(select(Contact.id, Contact.subject_id).where(Contact.id.in_(self.contacts))).all()  # type: ignore[attr-defined]
        subject_of = dict(rows)
        self.bad_contact = self.contacts[1]
        self.bad_subject = subject_of[self.bad_contact]
        self.bad_message = session.execute(
            select(OutboundMessage.id).where(OutboundMessage.dispatch_id == self.dispatch, OutboundMessage.subject_id == self.bad_subject)
        ).scalar_one()

    def break_row(self, client: TestClient, session: Session, mode: str) -> None:
        """Damage the second person's contact and message in the database itself."""
        contact = session.execute(select(Contact.__table__).where(Contact.__table__.c.id == self.bad_contact)).one()
        message_ct = session.execute(select(OutboundMessage.recipient_ct).where(OutboundMessage.id == self.bad_message)).scalar_one()
        if mode == "altered":  # a flipped bit in the name and in the recipient
            name_ct = bytearray(contact.name_ct)
            name_ct[-1] ^= 1
            recipient_ct = bytearray(message_ct)
            recipient_ct[20] ^= 1
            session.execute(update(Contact.__table__).where(Contact.__table__.c.id == self.bad_contact).values(name_ct=bytes(name_ct)))
            session.execute(
                update(OutboundMessage.__table__).where(OutboundMessage.__table__.c.id == self.bad_message).values(recipient_ct=bytes(recipient_ct))
            )
        elif mode == "moved":  # another person's ciphertext copied into this row
            other = session.execute(select(Contact.__table__.c.number_ct).where(Contact.__table__.c.id == self.contacts[0])).scalar_one()
            other_message = session.execute(
                select(OutboundMessage.recipient_ct).where(OutboundMessage.dispatch_id == self.dispatch, OutboundMessage.id != self.bad_message)
            ).scalars().first()
            session.execute(update(Contact.__table__).where(Contact.__table__.c.id == self.bad_contact).values(number_ct=other))
            session.execute(update(OutboundMessage.__table__).where(OutboundMessage.__table__.c.id == self.bad_message).values(recipient_ct=other_message))
        elif mode == "key_altered":  # the person's wrapped key itself is damaged in the key store
            from govsms.keys.store import SubjectKey

            keys = SubjectKey.__table__
            wrapped = bytearray(session.execute(select(keys.c.wrapped_key).where(keys.c.id == self.bad_subject)).scalar_one())
            wrapped[-1] ^= 1
            session.execute(update(keys).where(keys.c.id == self.bad_subject).values(wrapped_key=bytes(wrapped)))
            client.app.state.vault.cache.forget([(self.account.id, self.bad_subject)])
        else:  # the person's key is gone, their rows are not (a restored backup, a half-done erasure)
            assert client.app.state.vault.shred(session, self.account.id, [self.bad_subject], now=now()) == 1
        session.flush()

    def unreadable_events(self, session: Session, target_type: str) -> list[AuditEvent]:
        return list(
            session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "data.unreadable", AuditEvent.account_id == self.account.id, AuditEvent.target_type == target_type
                ).order_by(AuditEvent.seq)
            ).scalars().all()
        )


def assert_event(event: AuditEvent, actor: str, target_id: int) -> None:
    assert event.actor == actor and event.target_id == str(target_id)
    details = json.loads(event.details)
    assert all(isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= 40) for value in details.values())
    flat = event.details + (event.target_id or "")
    for secret in (BAD_NUMBER, BAD_NUMBER[3:], "Bertil", "Berglund"):
        assert secret not in flat


def assert_rows(text: str, *, clear_numbers: bool = True) -> None:
    """The readable people are there, the damaged one is marked and shows nothing of theirs."""
    for number, name in (PEOPLE[0], PEOPLE[2]):
        if clear_numbers:
            assert number in text
        assert name in text
    assert MARKER_SV in text and 'class="unreadable"' in text
    assert BAD_NUMBER not in text and BAD_NAME not in text


@pytest.mark.parametrize("mode", MODES)
def test_contact_pages_show_the_other_rows(client: TestClient, session: Session, mode: str) -> None:
    world = Setup(client, session)
    world.break_row(client, session, mode)
    login(client, world.user.email, world.password)
    actor = f"user:{world.user.id}"

    listed = client.get("/contacts")
    assert listed.status_code == 200
    assert_rows(listed.text)
    [event] = world.unreadable_events(session, "contact")
    assert_event(event, actor, world.bad_contact)

    detail = client.get(f"/contacts/{world.bad_contact}")
    assert detail.status_code == 200 and MARKER_SV in detail.text and BAD_NAME not in detail.text
    assert f'href="/contacts/{world.bad_contact}/delete"' in detail.text  # it can still be deleted (after a confirmation)
    members = client.get(f"/groups/{world.group}")
    assert members.status_code == 200
    assert_rows(members.text)
    assert len(world.unreadable_events(session, "contact")) == 3

    csv = client.get("/contacts/export", params={"format": "csv"})
    assert csv.status_code == 200
    lines = csv.content.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 4 and PEOPLE[0][0] in csv.text and PEOPLE[2][1] in csv.text
    assert any(MARKER_SV in line for line in lines) and BAD_NAME not in csv.text
    xlsx = client.get("/contacts/export", params={"format": "xlsx", "group_id": world.group})
    assert xlsx.status_code == 200
    import python_calamine

    cells = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content)).get_sheet_by_index(0).to_python()
    assert len(cells) == 4 and [row[0] for row in cells[1:]].count(PEOPLE[2][0]) == 1
    assert any(MARKER_SV in str(row[0]) for row in cells[1:]) and BAD_NAME not in str(cells)
    assert len(world.unreadable_events(session, "contact")) == 5
    confirm = client.get(f"/contacts/{world.bad_contact}/delete")
    assert confirm.status_code == 200 and f'action="/contacts/{world.bad_contact}/delete"' in confirm.text and BAD_NAME not in confirm.text
    assert len(world.unreadable_events(session, "contact")) == 6  # the confirmation page read it too


@pytest.mark.parametrize("mode", MODES)
def test_contact_api_marks_the_row(client: TestClient, session: Session, mode: str) -> None:
    world = Setup(client, session)
    world.break_row(client, session, mode)
    listed = client.get("/api/v1/contacts", headers=world.headers)
    assert listed.status_code == 200 and listed.json()["total"] == 3
    by_id = {item["id"]: item for item in listed.json()["items"]}
    assert by_id[world.bad_contact]["unreadable"] is True and by_id[world.bad_contact]["number"] is None
    assert by_id[world.bad_contact]["name"] is None and BAD_NAME not in listed.text and BAD_NUMBER not in listed.text
    assert by_id[world.contacts[0]]["number"] == PEOPLE[0][0] and by_id[world.contacts[0]]["unreadable"] is False
    one = client.get(f"/api/v1/contacts/{world.bad_contact}", headers=world.headers)
    assert one.status_code == 200 and one.json()["unreadable"] is True
    members = client.get(f"/api/v1/groups/{world.group}/members", headers=world.headers)
    assert members.status_code == 200 and sum(item["unreadable"] for item in members.json()["items"]) == 1
    events = world.unreadable_events(session, "contact")
    assert len(events) == 3
    for event in events:
        assert_event(event, world.api_actor, world.bad_contact)

    # Sending to the group reaches the readable members; the unreadable one is recorded, not sent to.
    sent = client.post("/api/v1/messages", json={"from": "Skolan", "group_ids": [world.group], "text": "Hej igen"}, headers=world.headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["accepted"] == 2 and sent.json()["invalid"] == []
    assert len(world.unreadable_events(session, "contact")) == 4
    # A change it cannot read is refused with a reason; deleting it works.
    changed = client.patch(f"/api/v1/contacts/{world.bad_contact}", json={"name": "Ny"}, headers=world.headers)
    assert changed.status_code == 409 and changed.json()["message"]
    assert client.delete(f"/api/v1/contacts/{world.bad_contact}", headers=world.headers).status_code == 204


@pytest.mark.parametrize("mode", MODES)
def test_message_history_marks_the_row(client: TestClient, session: Session, mode: str) -> None:
    world = Setup(client, session)
    world.break_row(client, session, mode)
    login(client, world.user.email, world.password)
    actor = f"user:{world.user.id}"

    masked = client.get(f"/messages/{world.dispatch}")
    assert masked.status_code == 200 and masked.text.count('class="unreadable"') == 1 and MARKER_SV in masked.text
    assert masked.text.split('<tbody>')[1].count("<tr>") == 3
    revealed = post_form(client, f"/messages/{world.dispatch}/reveal", {}, token_from=f"/messages/{world.dispatch}")
    assert revealed.status_code == 200
    assert readable(PEOPLE[0][0]) in revealed.text and readable(PEOPLE[2][0]) in revealed.text and readable(BAD_NUMBER) not in revealed.text
    assert MARKER_SV in revealed.text
    events = world.unreadable_events(session, "outbound_message")
    assert len(events) == 3  # the page, the page again for the form's token, the reveal
    for event in events:
        assert_event(event, actor, world.bad_message)

    api = client.get("/api/v1/messages", params={"dispatch_id": world.dispatch}, headers=world.headers)
    assert api.status_code == 200 and api.json()["total"] == 3
    bad = [item for item in api.json()["items"] if item["unreadable"]]
    assert [item["id"] for item in bad] == [world.bad_message] and bad[0]["to"] is None
    assert len(world.unreadable_events(session, "outbound_message")) == 4
    assert_event(world.unreadable_events(session, "outbound_message")[-1], world.api_actor, world.bad_message)


# -- the worker: one message it cannot read fails alone; the batch goes ------------------------------


def test_the_worker_fails_only_the_message_it_cannot_read(db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    from govsms.db import session_scope
    from govsms.sending.outbox import Outbox
    from tests.sending.test_outbox_recording import Counting, queue_dispatch

    queue_dispatch(db.factory, 3)
    with session_scope(db.factory) as session:
        bad, good = session.execute(select(OutboundMessage.id, OutboundMessage.recipient_ct).order_by(OutboundMessage.id).limit(2)).all()
        session.execute(update(OutboundMessage.__table__).where(OutboundMessage.__table__.c.id == bad.id).values(recipient_ct=good.recipient_ct))
        account_id = session.execute(select(OutboundMessage.account_id).where(OutboundMessage.id == bad.id)).scalar_one()
    transport = Counting()
    outbox = Outbox(db.factory, transport, public_url="http://x")
    for _ in range(3):
        outbox.run_once()
    assert sorted(transport.ids) == sorted(set(transport.ids)) and bad.id not in transport.ids and len(transport.ids) == 2
    with session_scope(db.factory) as session:
        status, reason = session.execute(select(OutboundMessage.status, OutboundMessage.reason).where(OutboundMessage.id == bad.id)).one()
        assert (status, reason) == ("failed", "unreadable")
        assert session.execute(select(func.count()).where(OutboundMessage.status.in_(("sent", "delivered")))).scalar_one() == 2  # type: ignore[attr-defined]
        [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "data.unreadable")).scalars().all()
        assert (event.account_id, event.actor, event.target_type, event.target_id) == (account_id, "system", "outbound_message", str(bad.id))


def test_the_worker_fails_the_messages_of_a_dispatch_whose_text_it_cannot_read(db) -> None:  # type: ignore[no-untyped-def]
    """An altered dispatch text made the whole batch fail and go again for ever; now its
    messages fail ('unreadable'), one event names the dispatch, and other dispatches go."""
    from sqlalchemy import func

    from govsms.auth import Actor
    from govsms.accounts.service import create_account
    from govsms.db import session_scope
    from govsms.sending.dispatch import DispatchRequest, create_dispatch
    from govsms.sending.models import Dispatch
    from govsms.sending.outbox import Outbox
    from tests.sending.test_outbox_recording import Counting, queue_dispatch

    queue_dispatch(db.factory, 2)
    with session_scope(db.factory) as session:
        other = create_account(session, name="Andra AB", now=now(), actor=Actor.platform())
        create_dispatch(session, Actor.system(other.id, other.name), DispatchRequest(sender="Kommunen", text="Hej då", numbers=["+46701112233"]),  # type: ignore[arg-type]
                        public_url="http://x", now=now())
        first, second = session.execute(select(Dispatch.id, Dispatch.text_ct).order_by(Dispatch.id)).all()
        session.execute(update(Dispatch.__table__).where(Dispatch.__table__.c.id == first.id).values(text_ct=second.text_ct))
    transport = Counting()
    outbox = Outbox(db.factory, transport, public_url="http://x")
    for _ in range(3):
        outbox.run_once()
    with session_scope(db.factory) as session:
        rows = dict(session.execute(select(OutboundMessage.id, OutboundMessage.dispatch_id)).all())
        assert sorted(transport.ids) == [message for message, dispatch in rows.items() if dispatch == second.id]
        failed = session.execute(select(OutboundMessage.status, OutboundMessage.reason).where(OutboundMessage.dispatch_id == first.id)).all()
        assert failed == [("failed", "unreadable")] * 2
        assert session.execute(select(func.count()).where(OutboundMessage.status.in_(("sent", "delivered")))).scalar_one() == 1  # type: ignore[attr-defined]
        [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "data.unreadable")).scalars().all()
        assert (event.target_type, event.target_id) == ("dispatch", str(first.id))


# -- the DPA: details, a version's document, an acceptance that cannot be read ------------------------

INTERNAL = "does not decrypt"


def _dpa_world(client: TestClient, session: Session):  # type: ignore[no-untyped-def]
    from tests.dpa.test_dpa import provider_and_customer

    _, customer = provider_and_customer(session)
    admin, password = make_user(session, customer, roles={Role.ADMIN})
    _, admin_key = make_api_key(session, customer, roles={Role.ADMIN})
    return customer, admin, password, {"Authorization": f"Bearer {admin_key}"}


def _flip_last(value: bytes) -> bytes:
    flipped = bytearray(value)
    flipped[-1] ^= 1
    return bytes(flipped)


def _dpa_events(session: Session, account_id: int, target_type: str) -> list[AuditEvent]:
    return list(session.execute(
        select(AuditEvent).where(AuditEvent.action == "data.unreadable", AuditEvent.account_id == account_id, AuditEvent.target_type == target_type)
    ).scalars().all())


def test_dpa_details_that_cannot_be_read_are_entered_again(client: TestClient, session: Session) -> None:
    from govsms.dpa.models import DpaDetails, DpaVersion
    from tests.dpa.test_dpa import DETAILS

    customer, admin, password, headers = _dpa_world(client, session)
    table = DpaDetails.__table__
    stored = session.execute(select(table.c.details_ct).where(table.c.account_id == customer.id)).scalar_one()
    session.execute(update(table).where(table.c.account_id == customer.id).values(details_ct=_flip_last(stored)))
    session.flush()
    login(client, admin.email, password)

    page = client.get("/dpa")
    assert page.status_code == 200 and MARKER_SV in page.text and 'id="details-unreadable"' in page.text
    assert 'action="/dpa/details"' in page.text
    assert len(_dpa_events(session, customer.id, "dpa_details")) == 1
    preview = client.get("/dpa/preview?lang=sv")
    assert preview.status_code == 409 and INTERNAL not in preview.text
    generated = post_form(client, "/dpa/generate", {"lang": "sv"}, token_from="/dpa")
    assert generated.status_code == 409 and 'id="details-unreadable"' in generated.text and INTERNAL not in generated.text
    made = client.post("/api/v1/dpa/versions", json={"lang": "sv"}, headers=headers)
    assert made.status_code == 409 and made.json()["error"] == "conflict", made.text
    assert INTERNAL not in made.text and "/dpa" in made.json()["message"]
    assert session.execute(select(DpaVersion.id).where(DpaVersion.account_id == customer.id)).first() is None
    assert len(_dpa_events(session, customer.id, "dpa_details")) >= 4
    for event in _dpa_events(session, customer.id, "dpa_details"):
        assert event.target_id == str(customer.id) and "Åsa" not in event.details
    # Entering them again replaces them; then the agreement can be generated.
    saved = post_form(client, "/dpa/details", DETAILS, token_from="/dpa")
    assert saved.status_code == 303, saved.text[:500]
    again = client.get("/dpa")
    assert "Åsa Öberg" in again.text and 'id="details-unreadable"' not in again.text
    assert client.post("/api/v1/dpa/versions", json={"lang": "sv"}, headers=headers).status_code == 201


def test_a_dpa_version_that_cannot_be_read_is_marked(client: TestClient, session: Session) -> None:
    from govsms.dpa.models import DpaVersion

    customer, admin, password, headers = _dpa_world(client, session)
    first = client.post("/api/v1/dpa/versions", json={"lang": "sv"}, headers=headers)
    assert first.status_code == 201
    version_id = first.json()["id"]
    table = DpaVersion.__table__
    row = session.execute(select(table.c.pdf_ct, table.c.details_ct).where(table.c.id == version_id)).one()
    session.execute(update(table).where(table.c.id == version_id).values(pdf_ct=_flip_last(row.pdf_ct), details_ct=_flip_last(row.details_ct)))
    session.flush()
    login(client, admin.email, password)

    page = client.get("/dpa")
    assert page.status_code == 200 and 'id="version-1"' in page.text
    version_row = page.text.split('id="version-1"')[1].split("</tr>")[0]
    assert MARKER_SV in version_row and 'class="unreadable"' in version_row and "/pdf" not in version_row
    for path, kwargs in ((f"/dpa/versions/{version_id}/pdf", {}), (f"/api/v1/dpa/versions/{version_id}/pdf", {"headers": headers}),
                         ("/api/v1/dpa/pdf?lang=sv", {"headers": headers})):
        response = client.get(path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 409, (path, response.status_code)
        assert MARKER_SV in response.text and INTERNAL not in response.text, path
    status = client.get("/api/v1/dpa", headers=headers).json()
    assert status["versions"][0]["unreadable"] is True
    events = _dpa_events(session, customer.id, "dpa_version")
    assert len(events) >= 4 and {event.target_id for event in events} == {str(version_id)}
    # A new version can be made (the unreadable one is not given again).
    made = client.post("/api/v1/dpa/versions", json={"lang": "sv"}, headers=headers)
    assert made.status_code == 201 and made.json()["number"] == 2, made.text
    assert client.get("/api/v1/dpa/pdf?lang=sv", headers=headers).status_code == 200


def test_a_dpa_acceptance_that_cannot_be_read_keeps_the_page(client: TestClient, session: Session) -> None:
    from govsms.dpa.models import DpaVersion

    customer, admin, password, headers = _dpa_world(client, session)
    version_id = client.post("/api/v1/dpa/versions", json={"lang": "sv"}, headers=headers).json()["id"]
    login(client, admin.email, password)
    accepted = post_form(client, f"/dpa/versions/{version_id}/accept", {"name": "Åsa Öberg", "title": "Chefen", "confirm": "yes"}, token_from="/dpa")
    assert accepted.status_code == 303
    table = DpaVersion.__table__
    stored = session.execute(select(table.c.acceptance_ct).where(table.c.id == version_id)).scalar_one()
    session.execute(update(table).where(table.c.id == version_id).values(acceptance_ct=_flip_last(stored)))
    session.flush()
    page = client.get("/dpa")
    assert page.status_code == 200 and MARKER_SV in page.text.split('id="accepted"')[1].split("</p>")[0] and "Chefen" not in page.text
    assert len(_dpa_events(session, customer.id, "dpa_version")) == 1


# -- an uploaded file kept between preview and confirmation ---------------------------------------------


def test_an_upload_that_cannot_be_read_is_asked_for_again(client: TestClient, session: Session) -> None:
    from govsms.accounts.login import actor_for_user
    from govsms.contacts import importing
    from govsms.contacts.models import ImportUpload
    from tests.web_helpers import csrf_token

    seed_default_prices(session, now=now())
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    actor = actor_for_user(user, account)
    token = importing.store_upload(session, actor, "kunder.csv", b"number,name\n+46701111111,Anna\n", now=now())
    table = ImportUpload.__table__
    stored = session.execute(select(table.c.content_ct).where(table.c.id == token)).scalar_one()
    session.execute(update(table).where(table.c.id == token).values(content_ct=_flip_last(stored)))
    session.flush()
    login(client, user.email, password)

    imported = post_form(client, f"/contacts/import/{token}", {"group_name": "Kunder"}, token_from="/contacts/import")
    assert imported.status_code == 422 and INTERNAL not in imported.text
    assert "ladda upp den igen" in imported.text.lower()
    sent = client.post("/send", data={"_csrf_token": csrf_token(client, "/send"), "sender": "Skolan", "to": "", "text": "Hej", "upload": token},
                       files={"file": ("", b"", "application/octet-stream")})
    assert sent.status_code == 422 and "ladda upp den igen" in sent.text.lower() and INTERNAL not in sent.text
    events = list(session.execute(
        select(AuditEvent).where(AuditEvent.action == "data.unreadable", AuditEvent.target_type == "import_upload")
    ).scalars().all())
    assert len(events) == 2 and all(event.account_id == account.id for event in events)


# -- a value of the wrong type in a BLOB column ----------------------------------------------------------


def test_text_in_a_blob_column_is_unreadable_not_a_crash(client: TestClient, session: Session) -> None:
    from sqlalchemy import text

    from govsms.keys.crypto import DecryptionError, unseal

    for value in ("abc", 1, None, b"", bytearray(b"\x01" + bytes(40)), memoryview(b"\x01" + bytes(40))):
        with pytest.raises(DecryptionError):
            unseal(bytes(32), value, b"context")  # type: ignore[arg-type]
    if session.connection().dialect.name != "sqlite":
        not_applicable("SQLite only: PostgreSQL's bytea does not take a text value")
    world = Setup(client, session)
    session.execute(text("UPDATE contact SET number_ct = number_ct || 'a' WHERE id = :id"), {"id": world.bad_contact})
    session.flush()
    login(client, world.user.email, world.password)
    listed = client.get("/contacts")
    assert listed.status_code == 200
    assert PEOPLE[0][0] in listed.text and PEOPLE[2][0] in listed.text and MARKER_SV in listed.text and BAD_NUMBER not in listed.text
    assert len(world.unreadable_events(session, "contact")) == 1
