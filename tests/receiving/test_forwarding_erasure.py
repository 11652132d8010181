"""A mobile forward's dispatch ("Från +46 70 ...: text", sealed under the account's key) is the
sender's data (review of issue 14, item 9): the sender's search and export name it, erasing the
sender empties its text, and so does the retention purge that takes the forward; removing the rule
or erasing the forward-to number keeps the link. Both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from govsms.keys.crypto import unseal_field
from govsms.keys.store import DATA_PURPOSE
from govsms.personal_data import Person
from govsms.receiving.forwarding import create_rule, remove_rule, run_forwards
from govsms.receiving.forwarding_data import (
    erase_forward_jobs,
    erase_forward_rules,
    export_forward_jobs,
    find_forward_jobs,
    purge_forward_jobs,
)
from govsms.receiving.models import InboundMessage
from govsms.sending.models import DISPATCH_TEXT, Dispatch, OutboundMessage
from tests.factories import now
from tests.receiving.forwarding_helpers import make_inbound
from tests.receiving.test_forwarding import SENDER, SHOWN, STAFF, VIRTUAL, _account, _jobs, _settings, factory  # noqa: F401
from tests.web_helpers import free_port

TEXT = "Min dotter Lisa är sjuk idag"


def _person(session: Session, account_id: int, e164: str) -> Person:
    vault = session.info["vault"]
    return Person(account_id, vault.blind_indexes(session, account_id, [e164], now=now())[e164], vault.subject(session, account_id, e164, now=now()), e164)


def _forward_text(session: Session, account_id: int) -> str:
    [dispatch] = session.execute(
        select(Dispatch).where(Dispatch.account_id == account_id, Dispatch.channel == "forward").execution_options(populate_existing=True)
    ).scalars().all()
    key = session.info["vault"].account_key(session, account_id, DATA_PURPOSE, now=now())
    return unseal_field(key, DISPATCH_TEXT, account_id, dispatch.id, dispatch.text_ct).decode()


def _forwarded(session: Session, factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    rule_id = create_rule(session, actor, trigger="all", emails="", mode="full", mobile=STAFF, now=now())
    make_inbound(session, account.id, e164=SENDER, text=TEXT, destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=now()) == 1
    assert _forward_text(session, account.id) == f"Från {SHOWN}: {TEXT}"
    return account, actor, rule_id


def test_erasing_the_sender_empties_the_forward_dispatchs_text(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, _actor, _rule_id = _forwarded(session, factory, tmp_path)
    sender = _person(session, account.id, SENDER)
    [job] = _jobs(session, account.id)
    assert job.dispatch_id is not None
    found = find_forward_jobs(session, sender)
    assert found is not None and any(str(job.dispatch_id) in line for line in found.lines)
    [record] = export_forward_jobs(session, sender)
    assert record["dispatch_id"] == job.dispatch_id and record["forwarded_text"] == f"Från {SHOWN}: {TEXT}"
    assert erase_forward_jobs(session, sender, limit=100, now=now()) == 1
    text = _forward_text(session, account.id)
    assert text == "" and SHOWN not in text and TEXT not in text and SENDER not in text
    assert _jobs(session, account.id) == []
    # Erased before the worker sent it: the forward SMS is cancelled, not sent empty, not billed.
    [sms] = session.execute(
        select(OutboundMessage).where(OutboundMessage.dispatch_id == job.dispatch_id).execution_options(populate_existing=True)
    ).scalars().all()
    assert (sms.status, sms.cost_minor) == ("cancelled", 0)


def test_another_accounts_dispatch_is_not_touched(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, _actor, _rule_id = _forwarded(session, factory, tmp_path)
    other, _other_actor = _account(session, "+46766000555")
    stranger = _person(session, other.id, SENDER)
    assert find_forward_jobs(session, stranger) is None and export_forward_jobs(session, stranger) == []
    assert erase_forward_jobs(session, stranger, limit=100, now=now()) == 0
    assert _forward_text(session, account.id) == f"Från {SHOWN}: {TEXT}"


def test_removing_the_rule_or_its_number_keeps_the_forward_for_the_senders_erasure(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, actor, rule_id = _forwarded(session, factory, tmp_path)
    assert erase_forward_rules(session, _person(session, account.id, STAFF), limit=100, now=now()) == 1
    assert len(_jobs(session, account.id)) == 1
    assert erase_forward_jobs(session, _person(session, account.id, SENDER), limit=100, now=now()) == 1
    assert _forward_text(session, account.id) == ""
    # remove_rule: the same
    account2, actor2 = _account(session, "+46766000777")
    rule2 = create_rule(session, actor2, trigger="all", emails="", mode="full", mobile=STAFF, now=now())
    make_inbound(session, account2.id, e164=SENDER, text=TEXT, destination="46766000777", routed_by="virtual", now=now())
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=now()) == 1
    remove_rule(session, actor2, rule2, now=now())
    assert len(_jobs(session, account2.id)) == 1
    assert erase_forward_jobs(session, _person(session, account2.id, SENDER), limit=100, now=now()) == 1
    assert _forward_text(session, account2.id) == ""
    assert rule_id  # the first account's rule went with its only number


def test_the_retention_purge_empties_the_forward_dispatchs_text(session: Session, factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account, _actor, _rule_id = _forwarded(session, factory, tmp_path)
    for message in session.execute(select(InboundMessage).where(InboundMessage.account_id == account.id)).scalars():
        session.delete(message)  # the received SMS's own purge
    session.flush()
    assert purge_forward_jobs(session, account_id=account.id, before=now() + timedelta(days=1), held=frozenset(), limit=100) == 1
    assert _forward_text(session, account.id) == ""
