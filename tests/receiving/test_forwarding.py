"""Forwarding of inbound SMS on both backends, with a local SMTP server (aiosmtpd): a full rule
mails number and text, a notice holds neither, a mail server that is down is tried again with
backoff and its error shown on the rule, a mobile forward is a billed dispatch and is refused to
the number the SMS came from, rules are refused for bad input, and one account never sees,
changes or triggers another's."""

from __future__ import annotations

import email
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Actor, Role
from govsms.db import make_session_factory, session_scope
from govsms.errors import Forbidden, InvalidInput, NotFound
from govsms.i18n import language
from govsms.keys.crypto import unseal_field
from govsms.keys.store import DATA_PURPOSE, Vault
from govsms.receiving.forwarding import (
    BACKOFF, MAX_ATTEMPTS, JobStatus, create_rule, forwarding_rules, plan_forwards, remove_rule, run_forwards, set_rule_enabled,
    trigger_choices,
)
from govsms.receiving.forwarding_models import ForwardingRule, ForwardJob
from govsms.receiving.models import InboundKeyword
from govsms.sending.models import DISPATCH_TEXT, Dispatch, OutboundMessage, VirtualNumber
from govsms.sending.pricing import DEFAULT_PRICES, seed_default_prices
from govsms.settings import Settings
from tests.conftest import make_settings
from tests.factories import audit_events, linked_subjects, make_account, now, system
from tests.receiving.forwarding_helpers import make_inbound, smtp_server
from tests.web_helpers import free_port

SENDER = "+46701234567"
SHOWN = "+46 70 123 45 67"
STAFF = "+46709876543"
VIRTUAL = "+46766000123"


@pytest.fixture
def factory(connection: Connection, vault: Vault):  # type: ignore[no-untyped-def]
    """Sessions of the runner on the test's connection (each commits a savepoint)."""
    return make_session_factory(connection, vault=vault)


def _account(session: Session, number: str = VIRTUAL):  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=now())
    account = make_account(session)
    session.add(VirtualNumber(number=number, account_id=account.id, created_at=now()))
    session.flush()
    return account, system(account)


def _settings(tmp_path: Path, port: int) -> Settings:
    return make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_from="govsms@kommun.example.se",
                         public_url="https://sms.example.se")


def _jobs(session: Session, account_id: int) -> list[ForwardJob]:
    return list(session.execute(
        select(ForwardJob).where(ForwardJob.account_id == account_id).order_by(ForwardJob.id).execution_options(populate_existing=True)
    ).scalars())


def _rule(session: Session, rule_id: int) -> ForwardingRule:
    rule = session.execute(select(ForwardingRule).where(ForwardingRule.id == rule_id).execution_options(populate_existing=True)).scalar_one()
    return rule


def test_a_full_rule_mails_the_number_and_the_text(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger=f"virtual:{VIRTUAL}", emails="kansliet@example.se; jour@example.se",
                          mode="full", mobile="", now=now())
    text = "Hej! Jag kan inte komma på mötet i morgon – Åsa"
    with smtp_server() as box:
        message = make_inbound(session, account.id, e164=SENDER, text=text, destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
        with language("sv"):  # the runner's language: the scheduler's thread speaks Swedish
            assert run_forwards(factory, _settings(tmp_path, box.port), now=now()) == 1
        assert run_forwards(factory, _settings(tmp_path, box.port), now=now() + timedelta(hours=2)) == 0  # sent once
    assert len(box.mails) == 1
    received = box.mails[0]
    assert received.recipients == ["kansliet@example.se", "jour@example.se"]
    mail = email.message_from_bytes(received.raw, policy=default_policy)
    assert mail["Subject"] == f"SMS från {SHOWN}"
    assert mail["From"] == "govsms@kommun.example.se"
    body = mail.get_content()  # type: ignore[attr-defined]
    assert text in body and SHOWN in body and "https://sms.example.se/inbox" in body
    [job] = _jobs(session, account.id)
    assert (job.kind, job.status, job.attempts, job.last_error) == ("email", JobStatus.SENT, 1, None)
    assert _rule(session, rule_id).last_sent_at is not None
    [sent] = audit_events(session, "forward.sent", account.id)
    assert sent.target_id == str(message.id)
    assert linked_subjects(session, sent) == {message.subject_id}  # the read in clear names the sender
    assert text not in (sent.details or "") and SENDER not in (sent.details or "")


def test_a_notice_holds_neither_number_nor_text(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="notice", mobile="", now=now())
    text = "Ring mig om bygglovet pa Storgatan 12"
    with smtp_server() as box:
        make_inbound(session, account.id, e164=SENDER, text=text, destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
        assert run_forwards(factory, _settings(tmp_path, box.port), now=now()) == 1
    [received] = box.mails
    raw = received.raw.decode("ascii", "replace")
    mail = email.message_from_bytes(received.raw, policy=default_policy)
    decoded = f"{mail['Subject']}\n{mail.get_content()}"  # type: ignore[attr-defined]
    for whole in (raw, decoded):
        for hidden in (SENDER, SENDER.lstrip("+"), "0701234567", "701234567", "70 123 45 67", "123 45 67", text, "bygglovet", "Storgatan"):
            assert hidden not in whole, hidden
    assert "https://sms.example.se/inbox" in decoded and "A new SMS arrived" in decoded
    [sent] = audit_events(session, "forward.sent", account.id)
    assert linked_subjects(session, sent) == set()  # nothing of the person left the service


def test_a_mail_server_that_is_down_is_tried_with_backoff_and_shown_on_the_rule(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
    start = now()
    make_inbound(session, account.id, e164=SENDER, text="Hej", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=start)
    down = _settings(tmp_path, free_port())  # nothing listens there
    when = start
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert run_forwards(factory, down, now=when) == 1
        [job] = _jobs(session, account.id)
        assert job.attempts == attempt and job.last_error == "smtp:connect"
        rule = _rule(session, rule_id)
        assert rule.last_error == "smtp:connect" and rule.last_error_at == when
        [view] = forwarding_rules(session, actor, now=when)
        if attempt < MAX_ATTEMPTS:
            wait = BACKOFF[attempt - 1]
            assert job.status == JobStatus.PENDING and job.next_at == when + wait
            assert view.next_try_at == when + wait and view.last_error == "smtp:connect"
            assert run_forwards(factory, down, now=when + wait - timedelta(seconds=1)) == 0  # not before its time
            when += wait
        else:
            assert job.status == JobStatus.FAILED and job.done_at == when  # given up after 1, 5, 15, 60 minutes
            assert view.next_try_at is None and view.last_error == "smtp:connect"
    assert [wait for wait in BACKOFF] == [timedelta(minutes=minutes) for minutes in (1, 5, 15, 60)]
    failed = audit_events(session, "forward.failed", account.id)
    assert len(failed) == MAX_ATTEMPTS and '"gave_up":true' in (failed[-1].details or "").replace(" ", "")
    # The server is back: the next SMS goes, and the rule's error is cleared.
    with smtp_server() as box:
        make_inbound(session, account.id, e164=SENDER, text="Hej igen", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=when)
        assert run_forwards(factory, _settings(tmp_path, box.port), now=when) == 1
    assert len(box.mails) == 1
    assert _rule(session, rule_id).last_error is None


def test_a_mobile_forward_is_a_billed_sms_from_the_number_it_arrived_on(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger=f"virtual:{VIRTUAL}", emails="", mode="full", mobile="070-987 65 43", now=now())
    message = make_inbound(session, account.id, e164=SENDER, text="Kan ni ringa mig?", destination=VIRTUAL.lstrip("+"),
                           routed_by="virtual", now=now())
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=now()) == 1
    [job] = _jobs(session, account.id)
    assert (job.kind, job.status) == ("sms", JobStatus.SENT)
    [dispatch] = session.execute(select(Dispatch).where(Dispatch.account_id == account.id)).scalars().all()
    assert (dispatch.channel, dispatch.sender, dispatch.accepted) == ("forward", VIRTUAL, 1)
    assert dispatch.cost_minor == DEFAULT_PRICES["SE"] * dispatch.parts  # billed per the price list
    key = session.info["vault"].account_key(session, account.id, DATA_PURPOSE, now=now())
    assert unseal_field(key, DISPATCH_TEXT, account.id, dispatch.id, dispatch.text_ct).decode() == f"Från {SHOWN}: Kan ni ringa mig?"
    [sms] = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == dispatch.id)).scalars().all()
    staff = session.info["vault"].subject(session, account.id, STAFF, now=now())
    assert sms.subject_id == staff.id and sms.status == "queued"
    [sent] = audit_events(session, "forward.sent", account.id)
    assert linked_subjects(session, sent) == {message.subject_id, staff.id}
    assert _rule(session, rule_id).last_error is None


def test_a_keyword_sms_is_forwarded_from_the_shared_number(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    session.add(InboundKeyword(account_id=account.id, shared_number="72323", keyword="bygg", created_at=now()))
    session.flush()
    keyword = next(choice for choice in trigger_choices(session, actor) if choice.trigger == "keyword")
    create_rule(session, actor, trigger=keyword.value, emails="", mode="full", mobile=STAFF, now=now())
    make_inbound(session, account.id, e164=SENDER, text="Fråga", destination="72323", routed_by="keyword", keyword="bygg", now=now())
    make_inbound(session, account.id, e164=SENDER, text="Annat", destination="72323", routed_by="keyword", keyword="skola", now=now())
    make_inbound(session, account.id, e164=SENDER, text="Svar", destination="72323", routed_by="reply", now=now())
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=now()) == 1  # only the keyword's SMS
    [dispatch] = session.execute(select(Dispatch).where(Dispatch.account_id == account.id)).scalars().all()
    assert dispatch.sender == "72323"


def test_a_rule_does_not_forward_to_the_number_the_sms_came_from(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="all", emails="", mode="full", mobile=STAFF, now=now())
    make_inbound(session, account.id, e164=STAFF, text="Svar från jouren", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=now()) == 1
    [job] = _jobs(session, account.id)
    assert (job.status, job.last_error) == (JobStatus.REFUSED, "own_number")
    assert session.execute(select(Dispatch).where(Dispatch.account_id == account.id)).first() is None  # nothing sent, nothing billed
    assert _rule(session, rule_id).last_error == "own_number"


def test_rules_are_refused_for_bad_input(session: Session) -> None:
    account, actor = _account(session)
    other, _other_actor = _account(session, "+46766000999")
    cases = [
        ({"mobile": VIRTUAL}, "mobile"),  # an own virtual number: the forward would come back in
        ({"mobile": "+46766000999"}, "mobile"),  # any virtual number of the service
        ({"mobile": "12"}, "mobile"),
        ({"emails": "kansliet"}, "emails"),
        ({"emails": "a@example.se, <script>@x.se"}, "emails"),
        ({"emails": "a@example.se\x00b@example.se"}, "emails"),
        ({"emails": ",".join(f"a{n}@example.se" for n in range(11))}, "emails"),
        ({"emails": "x" * 100_000 + "@example.se"}, "emails"),
        ({"emails": ""}, "emails"),  # nowhere to forward to
        ({"trigger": "virtual:+46766000999"}, "trigger"),  # another account's number
        ({"trigger": "keyword:999999"}, "trigger"),
        ({"trigger": "nonsense"}, "trigger"),
        ({"mode": "everything"}, "mode"),
    ]
    for change, field in cases:
        values = {"trigger": "all", "emails": "kansliet@example.se", "mode": "full", "mobile": ""} | change
        with pytest.raises(InvalidInput) as refused:
            create_rule(session, actor, now=now(), **values)
        assert field in refused.value.fields, (change, refused.value.fields)
        assert "x" * 100 not in str(refused.value.fields)  # a hostile value is not echoed whole
    assert session.execute(select(ForwardingRule).where(ForwardingRule.account_id == account.id)).first() is None
    sender = Actor(kind="user", id=1, account_id=account.id, account_name=account.name, roles=frozenset({Role.SENDER}))
    with pytest.raises(Forbidden):
        create_rule(session, sender, trigger="all", emails="a@example.se", mode="full", mobile="", now=now())
    assert other.id != account.id


def test_addresses_and_mobile_are_sealed_and_listing_them_is_recorded(session: Session) -> None:
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="reply", emails="Kansliet@Example.se", mode="notice", mobile=STAFF, now=now())
    rule = _rule(session, rule_id)
    assert rule.email_ct and b"Kansliet" not in rule.email_ct and rule.mobile_ct and STAFF.encode() not in rule.mobile_ct
    [view] = forwarding_rules(session, actor, now=now())
    assert (view.emails, view.mobile, view.mode, view.trigger) == (["Kansliet@Example.se"], STAFF, "notice", "reply")
    [listed] = audit_events(session, "forwarding_rule.listed", account.id)
    assert linked_subjects(session, listed) == {rule.mobile_subject_id}
    [created] = audit_events(session, "forwarding_rule.created", account.id)
    assert "Kansliet" not in (created.details or "") and STAFF not in (created.details or "")


def test_a_rule_turned_off_or_removed_forwards_nothing(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
    make_inbound(session, account.id, e164=SENDER, text="Ett", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    set_rule_enabled(session, actor, rule_id, False, now=now())  # after the SMS was planned
    make_inbound(session, account.id, e164=SENDER, text="Två", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    with smtp_server() as box:
        assert run_forwards(factory, _settings(tmp_path, box.port), now=now()) == 1
    assert box.mails == []
    [job] = _jobs(session, account.id)  # the second SMS planned nothing
    assert (job.status, job.last_error) == (JobStatus.REFUSED, "rule_off")
    set_rule_enabled(session, actor, rule_id, True, now=now())
    make_inbound(session, account.id, e164=SENDER, text="Tre", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    remove_rule(session, actor, rule_id, now=now())
    assert _jobs(session, account.id) == []
    assert forwarding_rules(session, actor, now=now()) == []


def test_unrouted_and_stop_sms_are_not_forwarded(session: Session) -> None:
    account, actor = _account(session)
    create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
    message = make_inbound(session, account.id, e164=SENDER, text="STOPP", destination="72323", routed_by="reply", now=now(), plan=False)
    message.stop = True
    assert plan_forwards(session, message, "STOPP", SENDER, now=now()) == 0
    unrouted = make_inbound(session, account.id, e164=SENDER, text="?", destination="72323", routed_by="unrouted", now=now(), plan=False)
    assert plan_forwards(session, unrouted, "?", SENDER, now=now()) == 0
    assert _jobs(session, account.id) == []


def test_one_account_never_sees_changes_or_triggers_anothers_rules(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, first_actor = _account(session)
    second, second_actor = _account(session, "+46766000777")
    rule_id = create_rule(session, first_actor, trigger="all", emails="kansliet@example.se", mode="full", mobile=STAFF, now=now())
    create_rule(session, second_actor, trigger="all", emails="andra@example.se", mode="full", mobile="", now=now())
    assert [view.emails for view in forwarding_rules(session, second_actor, now=now())] == [["andra@example.se"]]
    assert all(choice.number != VIRTUAL for choice in trigger_choices(session, second_actor))
    for attempt in (
        lambda: set_rule_enabled(session, second_actor, rule_id, False, now=now()),
        lambda: remove_rule(session, second_actor, rule_id, now=now()),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert _rule(session, rule_id).enabled
    with smtp_server() as box:
        make_inbound(session, first.id, e164=SENDER, text="Till första", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
        assert run_forwards(factory, _settings(tmp_path, box.port), now=now()) == 2  # the first account's e-mail and SMS
    assert [mail.recipients for mail in box.mails] == [["kansliet@example.se"]]
    assert _jobs(session, second.id) == []
    assert {job.account_id for job in _jobs(session, first.id)} == {first.id}


def test_routing_plans_the_forwards_of_what_it_routes(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through the real routing (route_inbound): an SMS to the virtual number is mailed, a STOP to
    it is not forwarded, and one to another account's number triggers nothing here."""
    from govsms.receiving.service import route_inbound

    account, actor = _account(session)
    _other, _ = _account(session, "+46766000888")
    create_rule(session, actor, trigger=f"virtual:{VIRTUAL}", emails="kansliet@example.se", mode="full", mobile="", now=now())
    routed = route_inbound(session, source_e164=SENDER, destination=VIRTUAL.lstrip("+"), text="Vi ses i morgon", transport="loopback",
                           provider_ref="fwd-1", parts=1, now=now())
    assert routed is not None and routed.account_id == account.id
    route_inbound(session, source_e164=SENDER, destination="46766000888", text="Till den andra", transport="loopback",
                  provider_ref="fwd-2", parts=1, now=now())
    route_inbound(session, source_e164="+46701112233", destination=VIRTUAL.lstrip("+"), text="STOPP", transport="loopback",
                  provider_ref="fwd-3", parts=1, now=now())
    session.flush()
    assert [job.inbound_message_id for job in _jobs(session, account.id)] == [routed.id]
    with smtp_server() as box:
        assert run_forwards(factory, _settings(tmp_path, box.port), now=now()) == 1
    [received] = box.mails
    body = email.message_from_bytes(received.raw, policy=default_policy).get_content()  # type: ignore[attr-defined]
    assert "Vi ses i morgon" in body and SHOWN in body


def test_a_data_subject_request_finds_exports_and_erases_forwarding_data(session: Session) -> None:
    """The forward-to mobile number is a person's: the search finds the rules, the export holds the
    number, the erasure takes it out of the rules (a rule that also mails stays, one that only
    forwarded to it goes). The forwards of what the sender sent are found and erased with it."""
    from govsms.personal_data import Person
    from govsms.receiving.forwarding_data import (
        erase_forward_jobs, erase_forward_rules, export_forward_jobs, export_forward_rules, find_forward_jobs, find_forward_rules,
    )

    account, actor = _account(session)
    both = create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile=STAFF, now=now())
    only = create_rule(session, actor, trigger="reply", emails="", mode="full", mobile=STAFF, now=now())
    make_inbound(session, account.id, e164=SENDER, text="Hej", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    vault = session.info["vault"]

    def person(e164: str) -> Person:
        return Person(account.id, vault.blind_indexes(session, account.id, [e164], now=now())[e164], vault.subject(session, account.id, e164, now=now()), e164)

    staff, sender = person(STAFF), person(SENDER)
    found = find_forward_rules(session, staff)
    assert found is not None and found.count == 2
    assert [record["mobile"] for record in export_forward_rules(session, staff)] == [STAFF, STAFF]
    assert find_forward_rules(session, sender) is None and find_forward_jobs(session, staff) is None
    jobs = find_forward_jobs(session, sender)
    assert jobs is not None and jobs.count == 2  # the e-mail and the SMS of the SMS the sender sent
    assert {record["kind"] for record in export_forward_jobs(session, sender)} == {"email", "sms"}
    assert erase_forward_rules(session, staff, limit=100, now=now()) == 2
    assert erase_forward_rules(session, staff, limit=100, now=now()) == 0  # idempotent
    remaining = _rule(session, both)
    assert remaining.mobile_ct is None and remaining.mobile_subject_id is None and remaining.email_ct is not None
    assert session.execute(select(ForwardingRule).where(ForwardingRule.id == only)).first() is None
    assert [job.kind for job in _jobs(session, account.id)] == ["email"]  # the SMS forward went with the number
    assert erase_forward_jobs(session, sender, limit=100, now=now()) == 1
    assert _jobs(session, account.id) == []


def test_the_worker_runs_the_forwards_every_30_seconds(session: Session, factory, keys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from apscheduler.triggers.interval import IntervalTrigger

    from govsms.clock import FixedClock
    from govsms.scheduler import build_scheduler

    account, actor = _account(session)
    create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="notice", mobile="", now=now())
    make_inbound(session, account.id, e164=SENDER, text="Hej", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    with smtp_server() as box:
        job = build_scheduler(_settings(tmp_path, box.port), factory, keys, FixedClock(now())).get_job("receiving.forwards")
        assert job is not None and isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(seconds=30)
        job.func()
    assert [mail.recipients for mail in box.mails] == [["kansliet@example.se"]]


def test_a_password_is_never_sent_to_a_server_without_starttls(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With a user set, STARTTLS is on by default: a server that does not offer it gets no login
    and no mail, and the rule says why."""
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
    make_inbound(session, account.id, e164=SENDER, text="Hej", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    with smtp_server() as box:  # offers no STARTTLS
        settings = _settings(tmp_path, box.port).model_copy(update={"smtp_user": "govsms", "smtp_password": "hemligt-lösen"})
        assert run_forwards(factory, settings, now=now()) == 1
    assert box.mails == []
    assert _rule(session, rule_id).last_error == "smtp:starttls"


def _self_signed(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server TLS context with a self-signed certificate for 127.0.0.1 (no CA vouches for it)."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_starttls_verifies_the_servers_certificate(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """STARTTLS to a server whose certificate no trusted CA signed: nothing is sent (no login, no
    mail), the rule says the certificate could not be verified."""
    from aiosmtpd.controller import Controller

    from tests.receiving.forwarding_helpers import MailBox

    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
    make_inbound(session, account.id, e164=SENDER, text="Hej", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    box = MailBox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port, tls_context=_self_signed(tmp_path))
    controller.start()
    try:
        settings = _settings(tmp_path, box.port).model_copy(update={"smtp_starttls": True})
        assert run_forwards(factory, settings, now=now()) == 1
    finally:
        controller.stop()
    assert box.mails == []
    assert _rule(session, rule_id).last_error == "smtp:tls"


def test_the_retention_purge_takes_the_forwards_of_sms_that_are_gone(session: Session) -> None:
    from govsms.receiving.forwarding_data import purge_forward_jobs
    from govsms.receiving.models import InboundMessage

    account, actor = _account(session)
    other, other_actor = _account(session, "+46766000555")
    create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
    create_rule(session, other_actor, trigger="all", emails="andra@example.se", mode="full", mobile="", now=now())
    gone = make_inbound(session, account.id, e164=SENDER, text="Ett", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    kept = make_inbound(session, account.id, e164=SENDER, text="Två", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    elsewhere = make_inbound(session, other.id, e164=SENDER, text="Tre", destination="46766000555", routed_by="virtual", now=now())
    session.delete(gone)
    session.delete(elsewhere)
    session.flush()
    later = now() + timedelta(days=1)
    assert purge_forward_jobs(session, account_id=account.id, before=now() - timedelta(days=1), held=frozenset(), limit=100) == 0  # too young
    assert purge_forward_jobs(session, account_id=account.id, before=later, held=frozenset(), limit=100, dry_run=True) == 1
    assert purge_forward_jobs(session, account_id=account.id, before=later, held=frozenset(), limit=100) == 1
    assert [job.inbound_message_id for job in _jobs(session, account.id)] == [kept.id]
    assert len(_jobs(session, other.id)) == 1  # another account's are its own purge's
    assert session.get(InboundMessage, kept.id) is not None


def test_the_rules_routing_read_are_read_again_in_its_next_transaction(session: Session, factory) -> None:  # type: ignore[no-untyped-def]
    """Routing reads an account's rules once per transaction (a batch of SMS); a rule added
    meanwhile counts from its next transaction on."""
    account, actor = _account(session)
    router = factory()
    try:
        first = make_inbound(router, account.id, e164=SENDER, text="Ett", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
        router.commit()
        with session_scope(factory) as admin:
            create_rule(admin, actor, trigger="all", emails="kansliet@example.se", mode="full", mobile="", now=now())
        second = make_inbound(router, account.id, e164=SENDER, text="Två", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
        third = make_inbound(router, account.id, e164=SENDER, text="Tre", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
        router.commit()
    finally:
        router.close()
    assert [job.inbound_message_id for job in _jobs(session, account.id)] == [second.id, third.id]
    assert first.id is not None
