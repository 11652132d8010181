"""Senders (issue 10, items 4 and 8), on both backends: a virtual number is usable only by its
account; a mobile-number sender must be verified once per account by a code sent to it by SMS
(through the outbox, not billed, stored hashed, expiring, attempts and resends limited); the
number is sealed wherever it is stored, and opened in bulk by the worker and the history pages."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session

from govsms.auth import Role
from govsms.app import create_app
from govsms.audit.models import AuditEvent
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.errors import InvalidInput, NotFound
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.sending import sender_numbers
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import Dispatch, OutboundMessage, SenderNumber, VirtualNumber
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.sender_numbers import Outcome, confirm_code, remove_sender_number, request_code, resend_code
from govsms.sending.sender_ui import demo_codes_visible
from govsms.sending.senders import open_senders, resolve_sender
from govsms.sending.transports.base import Submission, SubmitResult
from govsms.sending.transports.loopback import LoopbackTransport
from govsms.sending.wire import SenderKind
from tests.conftest import drop_postgres_database, fresh_database_url, make_settings
from tests.factories import make_account, make_api_key, make_user, now, system
from tests.web_helpers import csrf_token, login, post_form

URL = "https://sms.example.se"
MOBILE = "+46705557788"
"""The mobile number a customer wants to send from (a person's own phone)."""


class Capturing(LoopbackTransport):
    def __init__(self) -> None:
        super().__init__(report_delay=0)
        self.seen: list[Submission] = []

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        self.seen.extend(batch)
        return super().submit(batch)


def text_of(submission: Submission) -> str:
    return b"".join(submission.parts).decode("utf-16-be" if submission.data_coding == 8 else "latin-1")


def run_worker(connection: Connection, vault: Vault, at: datetime | None = None) -> Capturing:
    transport = Capturing()
    outbox = Outbox(make_session_factory(connection, vault=vault), transport, public_url=URL)
    while outbox.run_once(now=at):
        pass
    return transport


def code_from(transport: Capturing) -> str:
    [submission] = transport.seen
    match = re.search(r"\b(\d{6})\b", text_of(submission))
    assert match, text_of(submission)
    return match.group(1)


def send(session: Session, actor, sender: str, **overrides):  # type: ignore[no-untyped-def]
    values = {"sender": sender, "text": "Hej från skolan.", "numbers": ["0701234567"]}
    values.update(overrides)
    return create_dispatch(session, actor, DispatchRequest(**values), public_url=URL, now=now())


def setup_account(session: Session):  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=now())
    account = make_account(session)
    return account, system(account)


def verify(session: Session, connection: Connection, vault: Vault, actor, number: str = MOBILE) -> int:  # type: ignore[no-untyped-def]
    sent = request_code(session, actor, number, now=now())
    session.flush()
    code = code_from(run_worker(connection, vault))
    assert confirm_code(session, actor, sent.sender_id, code, now=now()).outcome is Outcome.VERIFIED
    return sent.sender_id


# -- virtual numbers ------------------------------------------------------------------------------


def test_a_virtual_number_is_usable_only_by_its_account(session: Session, client: TestClient) -> None:
    owner, owner_actor = setup_account(session)
    other, other_actor = setup_account(session)
    session.add(VirtualNumber(number="+46766000001", account_id=owner.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    assert resolve_sender(session, owner_actor, "076-600 00 01", now=now()).kind == "virtual"
    assert send(session, owner_actor, "+46766000001").accepted == 1
    with pytest.raises(InvalidInput) as refused:
        resolve_sender(session, other_actor, "076-600 00 01", now=now())
    assert "another account" in refused.value.fields["from"]
    with pytest.raises(InvalidInput):
        send(session, other_actor, "076-600 00 01")

    _, key = make_api_key(session, other, roles={Role.SENDER})
    api = client.post("/api/v1/messages", json={"from": "+46766000001", "to": ["0701234567"], "text": "Hej"}, headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 422 and "ett annat konto" in api.json()["fields"]["from"]  # Swedish: the key's language
    user, password = make_user(session, other, roles={Role.SENDER})
    login(client, user.email, password)
    token = csrf_token(client, "/send")
    page = client.post("/send", data={"_csrf_token": token, "sender": "076-600 00 01", "to": "0701234567", "text": "Hej"},
                       files={"file": ("", b"", "application/octet-stream")})
    assert page.status_code == 422 and "ett annat konto" in page.text
    assert session.execute(select(func.count()).select_from(Dispatch).where(Dispatch.account_id == other.id)).scalar_one() == 0


# -- unverified and verified mobile numbers -------------------------------------------------------


def test_an_unverified_mobile_number_is_refused_with_how_to_verify_it(session: Session, client: TestClient) -> None:
    account, actor = setup_account(session)
    with pytest.raises(InvalidInput) as refused:
        send(session, actor, "070-555 77 88")
    reason = refused.value.fields["from"]
    assert "not a verified sender" in reason and "/settings/senders" in reason
    _, key = make_api_key(session, account, roles={Role.SENDER})
    api = client.post("/api/v1/messages", json={"from": MOBILE, "to": ["0701234567"], "text": "Hej", "dry_run": True},
                      headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 422 and "/settings/senders" in api.json()["fields"]["from"]
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    token = csrf_token(client, "/send")
    live = client.post("/send/analyse", json={"text": "Hej", "sender": "0705557788"}, headers={"x-csrftoken": token}).json()
    # The live counter checks the format only and says how a mobile number is verified; whether
    # this one is, only the send itself tells (refused above, with the reason).
    assert "/settings/senders" in live["sender_note"] and "sender_error" not in live


def test_verify_flow_sends_a_free_code_through_the_outbox_then_the_number_sends_sealed(
    session: Session, connection: Connection, vault: Vault
) -> None:
    account, actor = setup_account(session)
    sent = request_code(session, actor, "070-555 77 88", now=now())
    session.flush()
    [code_dispatch] = session.execute(select(Dispatch).where(Dispatch.account_id == account.id)).scalars().all()
    assert code_dispatch.channel == "verify" and code_dispatch.cost_minor == 0
    [code_message] = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == code_dispatch.id)).scalars().all()
    assert code_message.cost_minor == 0 and code_message.sender == sender_numbers.VERIFY_SENDER
    transport = run_worker(connection, vault)
    [submission] = transport.seen
    assert submission.recipient == MOBILE and submission.sender_kind is SenderKind.ALPHANUMERIC
    code = code_from(transport)
    row = session.get(SenderNumber, sent.sender_id)
    session.refresh(row)
    assert row is not None and row.verified_at is None
    assert code.encode() not in (row.code_hash or b"") and row.code_hash != hashlib.sha256(code.encode()).digest()
    assert MOBILE.encode() not in row.number_ct

    wrong = "000000" if code != "000000" else "111111"
    failed = confirm_code(session, actor, sent.sender_id, wrong, now=now())
    assert failed.outcome is Outcome.WRONG and failed.attempts_left == sender_numbers.MAX_CODE_ATTEMPTS - 1
    assert confirm_code(session, actor, sent.sender_id, code, now=now()).outcome is Outcome.VERIFIED
    assert resolve_sender(session, actor, "0705557788", now=now()).kind == "number"

    summary = send(session, actor, "070-555 77 88", numbers=["0701234567", "0702345678"])
    dispatch = session.get(Dispatch, summary.dispatch_id)
    assert dispatch is not None and dispatch.sender is None and dispatch.sender_ct and dispatch.sender_subject_id
    messages = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == summary.dispatch_id)).scalars().all()
    assert len(messages) == 2 and {message.sender for message in messages} == {None}
    assert {message.sender_kind for message in messages} == {SenderKind.NUMBER.value}
    session.flush()
    transport = run_worker(connection, vault)
    assert {item.sender for item in transport.seen} == {MOBILE.lstrip("+")}
    assert {item.sender_kind for item in transport.seen} == {SenderKind.NUMBER}


def test_the_worker_opens_sealed_senders_in_bulk(session: Session, connection: Connection, vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """One unwrap of the sender's key per batch and account, not one per message."""
    _account, actor = setup_account(session)
    verify(session, connection, vault, actor)
    numbers = [f"070{index:07d}" for index in range(1, 41)]
    send(session, actor, MOBILE, numbers=numbers[:20])
    send(session, actor, MOBILE, numbers=numbers[20:])
    session.flush()
    calls: list[int] = []
    original = Vault.subjects_by_id

    def counting(self, session, account_id, subject_ids):  # type: ignore[no-untyped-def]
        calls.append(len(set(subject_ids)))
        return original(self, session, account_id, subject_ids)

    monkeypatch.setattr(Vault, "subjects_by_id", counting)
    transport = Capturing()
    outbox = Outbox(make_session_factory(connection, vault=vault), transport, public_url=URL, batch_size=100)
    assert outbox.run_once() == 40
    assert len(transport.seen) == 40 and {item.sender for item in transport.seen} == {MOBILE.lstrip("+")}
    assert len(calls) <= 2, calls  # the recipients' keys, and the senders' keys: one call each


def test_wrong_code_expired_code_and_too_many_attempts(session: Session, connection: Connection, vault: Vault) -> None:
    _account, actor = setup_account(session)
    sent = request_code(session, actor, MOBILE, now=now())
    session.flush()
    code = code_from(run_worker(connection, vault))
    late = now() + sender_numbers.CODE_TTL + timedelta(seconds=1)
    assert confirm_code(session, actor, sent.sender_id, code, now=late).outcome is Outcome.EXPIRED
    assert sender_numbers.list_sender_numbers(session, actor, now=late)[0].code_expires_at is None  # the page offers a new code
    with pytest.raises(InvalidInput):
        resolve_sender(session, actor, MOBILE, now=now())

    again = resend_code(session, actor, sent.sender_id, now=late)
    session.flush()
    new_code = code_from(run_worker(connection, vault, at=late))  # only the new code SMS is due
    assert again.sender_id == sent.sender_id
    wrong = "123456" if new_code != "123456" else "654321"
    outcomes = [confirm_code(session, actor, sent.sender_id, wrong, now=late).outcome for _ in range(sender_numbers.MAX_CODE_ATTEMPTS)]
    assert outcomes[:-1] == [Outcome.WRONG] * (sender_numbers.MAX_CODE_ATTEMPTS - 1) and outcomes[-1] is Outcome.LOCKED
    assert confirm_code(session, actor, sent.sender_id, new_code, now=late).outcome is Outcome.LOCKED  # the right code, too late
    assert sender_numbers.list_sender_numbers(session, actor, now=late)[0].code_expires_at is None
    with pytest.raises(InvalidInput):
        resolve_sender(session, actor, MOBILE, now=now())
    failed = session.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sender.verification_failed")).scalar_one()
    assert failed >= sender_numbers.MAX_CODE_ATTEMPTS


def test_resends_are_limited_per_number_and_per_account(session: Session) -> None:
    account, actor = setup_account(session)
    sent = request_code(session, actor, MOBILE, now=now())
    with pytest.raises(InvalidInput) as soon:
        resend_code(session, actor, sent.sender_id, now=now() + timedelta(seconds=5))
    assert "wait" in soon.value.message.lower()
    moment = now()
    for _index in range(1, sender_numbers.MAX_CODES_PER_NUMBER):
        moment += sender_numbers.RESEND_AFTER + timedelta(seconds=1)
        resend_code(session, actor, sent.sender_id, now=moment)
    with pytest.raises(InvalidInput) as daily:
        resend_code(session, actor, sent.sender_id, now=moment + sender_numbers.RESEND_AFTER + timedelta(seconds=1))
    assert str(sender_numbers.MAX_CODES_PER_NUMBER) in daily.value.message
    tomorrow = moment + sender_numbers.CODE_WINDOW + timedelta(minutes=1)
    assert resend_code(session, actor, sent.sender_id, now=tomorrow).sender_id == sent.sender_id
    codes = session.execute(
        select(func.count()).select_from(Dispatch).where(Dispatch.account_id == account.id, Dispatch.channel == "verify")
    ).scalar_one()
    assert codes == sender_numbers.MAX_CODES_PER_NUMBER + 1

    # Per account: removing and adding numbers again does not lift the daily limit.
    other, other_actor = setup_account(session)
    moment = now()
    for index in range(sender_numbers.MAX_CODES_PER_ACCOUNT):
        added = request_code(session, other_actor, f"+4670888{index:04d}", now=moment)
        remove_sender_number(session, other_actor, added.sender_id, now=moment)
    with pytest.raises(InvalidInput) as account_limit:
        request_code(session, other_actor, "+46708889999", now=moment)
    assert str(sender_numbers.MAX_CODES_PER_ACCOUNT) in account_limit.value.message


def test_cross_account_verification_is_impossible(session: Session, connection: Connection, vault: Vault) -> None:
    _a, actor_a = setup_account(session)
    _b, actor_b = setup_account(session)
    sent = request_code(session, actor_a, MOBILE, now=now())
    session.flush()
    code = code_from(run_worker(connection, vault))
    with pytest.raises(NotFound):
        confirm_code(session, actor_b, sent.sender_id, code, now=now())
    with pytest.raises(NotFound):
        resend_code(session, actor_b, sent.sender_id, now=now() + timedelta(minutes=5))
    with pytest.raises(NotFound):
        remove_sender_number(session, actor_b, sent.sender_id, now=now())
    assert confirm_code(session, actor_a, sent.sender_id, code, now=now()).outcome is Outcome.VERIFIED
    assert resolve_sender(session, actor_a, MOBILE, now=now()).kind == "number"
    with pytest.raises(InvalidInput):  # verified for account A only
        resolve_sender(session, actor_b, MOBILE, now=now())
    assert sender_numbers.list_sender_numbers(session, actor_b, now=now()) == []


def test_removed_sender_is_no_longer_usable_and_history_keeps_it(session: Session, connection: Connection, vault: Vault) -> None:
    account, actor = setup_account(session)
    sender_id = verify(session, connection, vault, actor)
    summary = send(session, actor, MOBILE)
    remove_sender_number(session, actor, sender_id, now=now())
    with pytest.raises(InvalidInput):
        send(session, actor, MOBILE)
    from govsms.sending import history

    views = history.list_messages(session, actor, now=now(), dispatch_id=summary.dispatch_id, reveal=True)
    assert {view.sender for view in views.items} == {MOBILE}
    masked = history.list_messages(session, actor, now=now(), dispatch_id=summary.dispatch_id)
    assert {view.sender for view in masked.items} == {"+46 70 *** ** 88"}
    listed = session.execute(select(AuditEvent).where(AuditEvent.action == "messages.listed")).scalars().all()[-1]
    sender_subject = session.get(Dispatch, summary.dispatch_id).sender_subject_id  # type: ignore[union-attr]
    assert sender_subject in json.loads(listed.subject_ids)


def test_every_add_verify_and_remove_is_audited_without_the_number(session: Session, connection: Connection, vault: Vault) -> None:
    _account, actor = setup_account(session)
    sender_id = verify(session, connection, vault, actor)
    sender_numbers.list_sender_numbers(session, actor, now=now())
    remove_sender_number(session, actor, sender_id, now=now())
    subject = session.get(SenderNumber, sender_id)
    assert subject is None
    events = session.execute(select(AuditEvent).where(AuditEvent.action.like("sender%"))).scalars().all()
    actions = [event.action for event in events]
    for action in ("sender.added", "sender.verified", "senders.listed", "sender.removed"):
        assert action in actions, actions
    for event in events:
        assert len(json.loads(event.subject_ids)) == 1, event.action
        assert "5557788" not in event.details and "555 77 88" not in event.details and not re.search(r"\d{6}", event.details)


def test_hostile_codes_and_numbers_get_a_reason_never_a_500(session: Session, client: TestClient) -> None:
    account, actor = setup_account(session)
    for bad in ("", "070", "x" * 5000, "070\x00555", "+46 70 555 77 88 99 00 11 22", "+0 000"):
        with pytest.raises(InvalidInput):
            request_code(session, actor, bad, now=now())
    sent = request_code(session, actor, MOBILE, now=now())
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5\x00", "9" * 5000):
        with pytest.raises(InvalidInput):
            confirm_code(session, actor, sent.sender_id, bad, now=now())
    row = session.get(SenderNumber, sent.sender_id)
    assert row is not None and row.code_attempts == 0  # input that cannot be a code is no guess

    admin, password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, password)
    for data in ({"number": "x" * 5000}, {"number": "\x00"}, {}):
        assert post_form(client, "/settings/senders", data, token_from="/settings/senders").status_code == 422
    for data in ({"code": "abc"}, {"code": "9" * 5000}, {}):
        assert post_form(client, f"/settings/senders/{sent.sender_id}/confirm", data, token_from="/settings/senders").status_code == 422
    assert post_form(client, "/settings/senders/999999999/confirm", {"code": "123456"}, token_from="/settings/senders").status_code == 404


# -- the /settings/senders page --------------------------------------------------------------------


def test_settings_page_add_confirm_remove_with_the_demo_code(session: Session, client: TestClient) -> None:
    account, _actor = setup_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, password)
    assert 'href="/settings/senders"' in client.get("/").text
    added = post_form(client, "/settings/senders", {"number": "070-555 77 88"}, token_from="/settings/senders")
    assert added.status_code == 200, added.text[:500]
    assert "+46 70 *** ** 88" in added.text and MOBILE not in added.text
    code = re.search(r'id="demo-code">(\d{6})<', added.text)
    assert code, "demo mode (loopback transport) shows the code"
    sender_id = session.execute(select(SenderNumber.id).where(SenderNumber.account_id == account.id)).scalar_one()
    wrong = post_form(client, f"/settings/senders/{sender_id}/confirm", {"code": "000000" if code.group(1) != "000000" else "111111"},
                      token_from="/settings/senders")
    assert wrong.status_code == 422
    confirmed = post_form(client, f"/settings/senders/{sender_id}/confirm", {"code": code.group(1)}, token_from="/settings/senders")
    assert confirmed.status_code == 303
    listing = client.get(confirmed.headers["location"])
    assert "+46 70 *** ** 88" in listing.text and MOBILE not in listing.text
    removed = post_form(client, f"/settings/senders/{sender_id}/remove", {}, token_from="/settings/senders")
    assert removed.status_code == 303
    assert session.execute(select(func.count()).select_from(SenderNumber).where(SenderNumber.account_id == account.id)).scalar_one() == 0

    sender_user, sender_password = make_user(session, account, roles={Role.SENDER})
    login(client, sender_user.email, sender_password)
    assert client.get("/settings/senders", follow_redirects=False).status_code == 403


def test_the_code_is_shown_only_in_demo_mode(session: Session, connection: Connection, vault: Vault, tmp_path: Path) -> None:
    assert demo_codes_visible(make_settings(tmp_path))
    assert not demo_codes_visible(make_settings(tmp_path, transport="smpp"))
    assert not demo_codes_visible(make_settings(tmp_path, transport="http"))
    assert not demo_codes_visible(make_settings(tmp_path, env="production"))
    account, _actor = setup_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    with TestClient(create_app(make_settings(tmp_path, transport="smpp"), bind=connection)) as real:
        login(real, admin.email, password)
        added = post_form(real, "/settings/senders", {"number": MOBILE}, token_from="/settings/senders")
        assert added.status_code == 200 and 'id="demo-code"' not in added.text and "+46 70 *** ** 88" in added.text
    code = code_from(run_worker(connection, vault))
    assert code not in added.text


# -- existing rows: the upgrade seals clear senders --------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_seals_existing_clear_senders_and_forgets_request_hashes(backend: str, tmp_path: Path) -> None:
    """Rows written before this release hold mobile-number senders in clear and unkeyed request
    hashes. The migration (no keys) drops the hashes; the data step of `govsms db upgrade` (with
    keys) seals the senders. Until it runs, the worker still sends such rows."""
    url = fresh_database_url(backend, tmp_path)
    settings = make_settings(tmp_path, database_url=url)
    try:
        upgrade(url, "a10b0c0d0e02")
        engine = make_engine(url)
        stamp = now().replace(tzinfo=None)
        with engine.begin() as db:
            db.execute(text(
                "INSERT INTO account (id, name, org_number, billing_address, is_provider, is_active, default_region, timezone, created_at)"
                " VALUES (7, 'Gamla Kunden AB', '', '', false, true, 'SE', 'Europe/Stockholm', :at)"), {"at": stamp})
            db.execute(text("INSERT INTO virtual_number (number, account_id, created_at) VALUES ('+46766000001', 7, :at)"), {"at": stamp})
            for dispatch_id, sender in ((1, MOBILE), (2, "+46766000001"), (3, "Kommunen"), (4, "72323")):
                db.execute(text(
                    "INSERT INTO dispatch (id, account_id, created_by, channel, sender, text_ct, encoding, parts, accepted, blocked, invalid,"
                    " cost_minor, currency, status, send_at, idempotency_key, request_hash, created_at) VALUES (:id, 7, 'system', 'api', :sender,"
                    " :ct, 'gsm7', 1, 2, 0, 0, 90, 'SEK', 'queued', :at, :key, :hash, :at)"),
                    {"id": dispatch_id, "sender": sender, "ct": b"\x01", "at": stamp, "key": f"k{dispatch_id}", "hash": "ab" * 32})
                wire = sender.lstrip("+")
                kind = "alphanumeric" if sender == "Kommunen" else "short_code" if sender == "72323" else "number"
                for _message in range(2):
                    db.execute(text(
                        "INSERT INTO outbound_message (dispatch_id, account_id, subject_id, recipient_ct, sender, sender_kind, country, parts,"
                        " cost_minor, status, attempts, due_at, created_at) VALUES (:dispatch, 7, 1, :ct, :sender, :kind, 'SE', 1, 45, 'sent', 0, :at, :at)"),
                        {"dispatch": dispatch_id, "ct": b"\x01", "sender": wire, "kind": kind, "at": stamp})
        upgrade(url, "head")
        with engine.connect() as db:
            assert db.execute(text("SELECT count(*) FROM dispatch WHERE request_hash IS NOT NULL")).scalar_one() == 0
        from govsms.cli import seal_clear_senders_step

        assert seal_clear_senders_step(settings) == 1
        assert seal_clear_senders_step(settings) == 0  # done once; running it again changes nothing
        with engine.connect() as db:
            dispatch_senders = dict(db.execute(text("SELECT id, sender FROM dispatch")).all())
            message_senders = {row[0]: row[1] for row in db.execute(text("SELECT dispatch_id, sender FROM outbound_message"))}
            everything = repr(db.execute(text("SELECT * FROM dispatch")).all()) + repr(db.execute(text("SELECT * FROM outbound_message")).all())
        assert dispatch_senders == {1: None, 2: "+46766000001", 3: "Kommunen", 4: "72323"}
        assert message_senders == {1: None, 2: "46766000001", 3: "Kommunen", 4: "72323"}
        assert "5557788" not in everything
        if backend == "sqlite":  # nor in the file's free space or its WAL
            raw = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith(Path(make_url(url).database or "").name))
            assert raw and b"5557788" not in raw
        factory = make_session_factory(engine, vault=Vault(__import__("govsms.keys.ring", fromlist=["load_key_ring"]).load_key_ring(settings)))
        with session_scope(factory) as session:
            sealed = session.execute(select(Dispatch.id, Dispatch.sender_subject_id, Dispatch.sender_ct).where(Dispatch.id == 1)).all()
            assert open_senders(session, 7, sealed) == {1: MOBILE}  # type: ignore[arg-type]
        engine.dispose()
    finally:
        if backend == "postgresql":
            drop_postgres_database(url)


# -- second round of the review ------------------------------------------------------------------


def _messages_of(session: Session, dispatch_id: int) -> list[tuple[str, str | None]]:
    session.expire_all()
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(OutboundMessage.status, OutboundMessage.reason).where(OutboundMessage.dispatch_id == dispatch_id)
    ).all()]


def test_the_worker_checks_the_sender_again_at_send_time(session: Session, connection: Connection, vault: Vault) -> None:
    """A dispatch queued or scheduled while its sender was allowed is not sent once it is not: a
    virtual number now assigned to another account, a mobile number no longer verified."""
    account, actor = setup_account(session)
    other, _other_actor = setup_account(session)
    session.add(VirtualNumber(number="+46766000002", account_id=account.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    sender_id = verify(session, connection, vault, actor)
    from_virtual = send(session, actor, "+46766000002").dispatch_id  # queued: due now, sent at the next run
    later = now() + timedelta(hours=1)
    from_mobile = send(session, actor, MOBILE, send_at=later).dispatch_id
    from_text = send(session, actor, "Kommunen", send_at=later).dispatch_id
    session.execute(VirtualNumber.__table__.update().values(account_id=other.id))  # the operator gave the number to another customer
    remove_sender_number(session, actor, sender_id, now=now())
    session.flush()
    transport = run_worker(connection, vault, at=later + timedelta(minutes=1))
    assert [item.sender for item in transport.seen] == ["Kommunen"]  # the text sender's only
    assert _messages_of(session, from_virtual) == [("failed", "sender_not_allowed")]
    assert _messages_of(session, from_mobile) == [("failed", "sender_not_allowed")]
    assert _messages_of(session, from_text) in ([("sent", None)], [("delivered", None)])
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "dispatch.cancelled")).scalars().all()
    assert all(json.loads(event.details)["reason"] == "sender_not_allowed" for event in events)
    assert sorted(int(event.target_id) for event in events) == sorted([from_virtual, from_mobile])  # type: ignore[arg-type]
    assert all(event.account_id == account.id and "5557788" not in event.details for event in events)


def test_the_send_time_check_is_one_query_per_batch(session: Session, connection: Connection, vault: Vault) -> None:
    account, actor = setup_account(session)
    verify(session, connection, vault, actor)
    for index in range(4):
        send(session, actor, MOBILE, numbers=[f"07012345{index:02d}"])
    session.flush()
    statements: list[str] = []
    from sqlalchemy import event

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", seen)
    try:
        transport = run_worker(connection, vault)
    finally:
        event.remove(connection, "before_cursor_execute", seen)
    assert len(transport.seen) == 4
    assert sum("FROM sender_number" in statement for statement in statements) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_upgrade_step_does_not_seal_another_accounts_virtual_number(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, tmp_path)
    settings = make_settings(tmp_path, database_url=url)
    try:
        upgrade(url, "head")
        engine = make_engine(url)
        stamp = now().replace(tzinfo=None)
        with engine.begin() as db:
            for account_id in (7, 8):
                db.execute(text(
                    "INSERT INTO account (id, name, org_number, billing_address, is_provider, is_active, default_region, timezone, created_at)"
                    f" VALUES ({account_id}, 'Kund {account_id}', '', '', false, true, 'SE', 'Europe/Stockholm', :at)"), {"at": stamp})
            db.execute(text("INSERT INTO virtual_number (number, account_id, created_at) VALUES ('+46766000009', 8, :at)"), {"at": stamp})
            db.execute(text(
                "INSERT INTO dispatch (id, account_id, created_by, channel, sender, text_ct, encoding, parts, accepted, blocked, invalid,"
                " cost_minor, currency, status, send_at, created_at) VALUES (1, 7, 'system', 'api', '+46766000009',"
                " :ct, 'gsm7', 1, 1, 0, 0, 45, 'SEK', 'queued', :at, :at)"), {"ct": b"\x01", "at": stamp})
        from govsms.cli import seal_clear_senders_step

        assert seal_clear_senders_step(settings) == 0
        with engine.connect() as db:
            assert db.execute(text("SELECT sender, sender_subject_id FROM dispatch WHERE id = 1")).one() == ("+46766000009", None)
        engine.dispose()
    finally:
        if backend == "postgresql":
            drop_postgres_database(url)


def test_codes_per_number_count_across_removals(session: Session) -> None:
    """Removing and adding the same number again does not give it new codes: 60 s between codes
    and 5 a day, per number."""
    _account, actor = setup_account(session)
    moment = now()
    added = request_code(session, actor, MOBILE, now=moment)
    remove_sender_number(session, actor, added.sender_id, now=moment)
    with pytest.raises(InvalidInput) as soon:
        request_code(session, actor, MOBILE, now=moment + timedelta(seconds=5))
    assert "wait" in soon.value.message.lower()
    for _index in range(1, sender_numbers.MAX_CODES_PER_NUMBER):
        moment += sender_numbers.RESEND_AFTER + timedelta(seconds=1)
        added = request_code(session, actor, MOBILE, now=moment)
        remove_sender_number(session, actor, added.sender_id, now=moment)
    with pytest.raises(InvalidInput) as daily:
        request_code(session, actor, MOBILE, now=moment + sender_numbers.RESEND_AFTER + timedelta(seconds=1))
    assert str(sender_numbers.MAX_CODES_PER_NUMBER) in daily.value.message
    assert request_code(session, actor, MOBILE, now=moment + sender_numbers.CODE_WINDOW + timedelta(minutes=1)).number


@pytest.mark.parametrize("value", ["E0705556677", "A 070555667", "Tel4670555", "X1234567"])
def test_a_text_sender_hiding_a_number_is_refused(session: Session, value: str) -> None:
    _account, actor = setup_account(session)
    with pytest.raises(InvalidInput) as refused:
        resolve_sender(session, actor, value, now=now())
    assert "verified sender" in refused.value.fields["from"]
    assert resolve_sender(session, actor, "Skola 123", now=now()).kind == "text"


def test_analyse_does_not_tell_whether_a_mobile_number_is_verified(session: Session, connection: Connection, vault: Vault, client: TestClient) -> None:
    account, actor = setup_account(session)
    verify(session, connection, vault, actor)
    user, password = make_user(session, account, roles={Role.SENDER})
    session.commit()
    login(client, user.email, password)
    token = csrf_token(client, "/send")
    answers = [
        client.post("/send/analyse", json={"text": "Hej", "sender": number}, headers={"x-csrftoken": token}).json()
        for number in (MOBILE, "+46705559999")
    ]
    assert answers[0] == answers[1]
    assert answers[0]["sender_note"] and "sender_error" not in answers[0]  # how to verify one, for any mobile number
    assert client.post("/send/analyse", json={"text": "Hej", "sender": "E0705556677"}, headers={"x-csrftoken": token}).json()["sender_error"]


def _flip(value: bytes) -> bytes:
    return value[:-1] + bytes([value[-1] ^ 1])


def test_a_sender_number_that_cannot_be_read_keeps_the_settings_page(session: Session, client: TestClient) -> None:
    account, actor = setup_account(session)
    bad = request_code(session, actor, MOBILE, now=now())
    request_code(session, actor, "+46705559911", now=now())
    ct = session.execute(select(SenderNumber.number_ct).where(SenderNumber.id == bad.sender_id)).scalar_one()
    session.execute(SenderNumber.__table__.update().where(SenderNumber.__table__.c.id == bad.sender_id).values(number_ct=_flip(ct)))
    user, password = make_user(session, account, roles={Role.ADMIN})
    session.commit()
    login(client, user.email, password)
    page = client.get("/settings/senders")
    assert page.status_code == 200
    assert "kan inte läsas" in page.text and "+46 70 *** ** 11" in page.text
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "data.unreadable", AuditEvent.account_id == account.id)
                             .execution_options(populate_existing=True)).scalars().all()
    assert [(event.target_type, event.target_id) for event in events] == [("sender_number", str(bad.sender_id))]
    assert "5557788" not in events[0].details


def test_a_dispatch_sender_that_cannot_be_read_is_told_apart_from_an_erased_one(
    session: Session, connection: Connection, vault: Vault
) -> None:
    account, actor = setup_account(session)
    verify(session, connection, vault, actor)
    later = now() + timedelta(hours=1)
    dispatch_id = send(session, actor, MOBILE, send_at=later).dispatch_id
    ct = session.execute(select(Dispatch.sender_ct).where(Dispatch.id == dispatch_id)).scalar_one()
    session.execute(Dispatch.__table__.update().where(Dispatch.__table__.c.id == dispatch_id).values(sender_ct=_flip(ct)))
    session.flush()
    from govsms.sending import history

    shown = history.dispatch_senders(session, actor, [session.get(Dispatch, dispatch_id)], now=now())  # type: ignore[list-item]
    assert shown[dispatch_id] == "cannot be read"
    transport = run_worker(connection, vault, at=later + timedelta(minutes=1))
    assert transport.seen == []
    assert _messages_of(session, dispatch_id) == [("failed", "unreadable")]
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "data.unreadable", AuditEvent.account_id == account.id)).scalars().all()
    assert {(event.target_type, event.target_id) for event in events} == {("dispatch", str(dispatch_id))} and len(events) == 2
