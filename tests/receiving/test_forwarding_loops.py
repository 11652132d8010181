"""Forwarding never loops (review of issue 14, item 4): two rules forwarding to two phones that
answer automatically would bounce SMS between them, each forward billed. An SMS answering a
forward (on the virtual number it came from, or through the reply route of 72323) is kept in the
inbox but not forwarded; a rule forwards at most MAX_PER_HOUR SMS of one sender an hour. Both
backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.db import make_session_factory
from govsms.keys.store import Vault
from govsms.receiving.forwarding import MAX_PER_HOUR, JobStatus, create_rule, plan_forwards, run_forwards
from govsms.receiving.forwarding_models import ForwardJob
from govsms.receiving.models import InboundMessage
from govsms.receiving.service import route_inbound
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import Dispatch
from govsms.sending.outbox import Outbox
from govsms.sending.transports.loopback import LoopbackTransport
from tests.factories import now
from tests.receiving.forwarding_helpers import make_inbound
from tests.receiving.test_forwarding import _account, _settings, factory  # noqa: F401
from tests.web_helpers import free_port

M1, M2 = "+46701111111", "+46702222222"


def _forwards(session: Session, account_id: int) -> int:
    return int(session.execute(
        select(func.count()).select_from(Dispatch).where(Dispatch.account_id == account_id, Dispatch.channel == "forward")
    ).scalar_one())


def _bounce(session: Session, connection: Connection, vault: Vault, factory, tmp_path: Path, account_id: int, destination: str):  # type: ignore[no-untyped-def]
    """M1 writes once; each forward's phone answers it automatically, four times."""
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(report_delay=0), public_url="https://x")
    settings = _settings(tmp_path, free_port())
    t = now()
    messages = [route_inbound(session, source_e164=M1, destination=destination, text="Hej", transport="smpp", provider_ref=None, parts=1, now=t)]
    who = M1
    for _turn in range(4):
        t += timedelta(minutes=1)
        before = _forwards(session, account_id)
        run_forwards(factory, settings, now=t)
        while outbox.run_once(now=t + timedelta(seconds=1)):
            pass
        if _forwards(session, account_id) == before:
            break  # nothing forwarded: no phone answers
        who = M2 if who == M1 else M1  # the phone the forward went to (not the sender's own) answers it
        messages.append(route_inbound(session, source_e164=who, destination=destination, text="Jag är på semester", transport="smpp",
                                      provider_ref=None, parts=1, now=t + timedelta(seconds=2)))
    return messages


def test_two_auto_responders_on_a_virtual_number_do_not_loop(  # type: ignore[no-untyped-def]
    session: Session, connection: Connection, vault: Vault, factory, provider: int, tmp_path: Path,
) -> None:
    account, actor = _account(session)
    create_rule(session, actor, trigger="all", emails="", mode="full", mobile=M1, now=now())
    create_rule(session, actor, trigger="all", emails="", mode="full", mobile=M2, now=now())
    messages = _bounce(session, connection, vault, factory, tmp_path, account.id, "46766000123")
    assert _forwards(session, account.id) == 1  # "Hej" to M2; M2's auto-reply answers a forward: kept, not forwarded
    assert len(messages) == 2 and all(message is not None and message.account_id == account.id for message in messages)
    kept = session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.account_id == account.id)).scalar_one()
    assert kept == 2  # both are in the inbox


def test_an_auto_reply_to_a_forward_from_72323_is_not_forwarded(  # type: ignore[no-untyped-def]
    session: Session, connection: Connection, vault: Vault, factory, provider: int, tmp_path: Path,
) -> None:
    account, actor = _account(session)
    create_rule(session, actor, trigger="reply", emails="", mode="full", mobile=M1, now=now())
    create_rule(session, actor, trigger="reply", emails="", mode="full", mobile=M2, now=now())
    # A reply route to M1 from the account's own earlier send makes M1's first SMS a reply.
    create_dispatch(session, actor, DispatchRequest(sender="72323", text="Välkommen", numbers=[M1]), public_url="https://x", now=now())
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(report_delay=0), public_url="https://x")
    while outbox.run_once(now=now()):
        pass
    messages = _bounce(session, connection, vault, factory, tmp_path, account.id, "72323")
    assert messages[0] is not None and messages[0].routed_by == "reply"
    assert len(messages) == 2 and messages[1] is not None and messages[1].routed_by == "reply"  # M2 answers the forward (its reply route)
    assert _forwards(session, account.id) == 1


def test_a_rule_forwards_at_most_so_many_sms_of_one_sender_an_hour(session: Session) -> None:
    account, actor = _account(session)
    create_rule(session, actor, trigger="all", emails="", mode="full", mobile=M2, now=now())
    planned = [
        plan_forwards(session, make_inbound(session, account.id, e164=M1, text=f"SMS {n}", destination="46766000123", routed_by="virtual",
                                            now=now() + timedelta(minutes=n), plan=False), "x", M1, now=now() + timedelta(minutes=n))
        for n in range(MAX_PER_HOUR + 2)
    ]
    jobs = list(session.execute(select(ForwardJob).where(ForwardJob.account_id == account.id).order_by(ForwardJob.id)).scalars())
    pending = [job for job in jobs if job.status == JobStatus.PENDING]
    refused = [job for job in jobs if job.status == JobStatus.REFUSED]
    assert len(pending) == MAX_PER_HOUR and [job.last_error for job in refused] == ["too_many"] * (len(jobs) - MAX_PER_HOUR)
    assert sum(planned) <= MAX_PER_HOUR
    # An hour after, the sender's SMS are forwarded again; another sender's never were limited.
    later = now() + timedelta(hours=2)
    assert plan_forwards(session, make_inbound(session, account.id, e164=M1, text="x", destination="46766000123", routed_by="virtual",
                                               now=later, plan=False), "x", M1, now=later) == 1
    assert plan_forwards(session, make_inbound(session, account.id, e164="+46703333333", text="x", destination="46766000123",
                                               routed_by="virtual", now=now(), plan=False), "x", "+46703333333", now=now()) == 1
