"""Each holding's find, export and erase of one person (``govsms.personal_data``), on both
backends: a number that is a contact in two groups, got 3 SMS, is blocked, is in a pending import
file and has legal holds. Erasure runs as the data-subject erasure does: every holding's ``erase``
in a loop until it returns fewer than ``limit`` (the blocklist entry only on ``unblock``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.auth import Actor, Role
from govsms.contacts.groups import add_members, create_group
from govsms.contacts.importing import store_upload
from govsms.db import bulk_insert, table_of
from govsms.keys.crypto import unseal_field
from govsms.keys.store import DATA_PURPOSE, Vault, vault_of
from govsms.models import metadata
from govsms.personal_data import Found, Holding, Link, Person
from govsms.registry import all_holdings
from govsms.retention.holds import end_legal_hold, place_legal_hold
from govsms.retention.subject_data import active_holds
from govsms.sending import blocklist
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.history import dispatch_senders
from govsms.sending.models import DISPATCH_TEXT, Dispatch, OutboundMessage
from govsms.sending.subject_data import message_totals
from govsms.sending.pricing import seed_default_prices
from govsms.sending.status import MessageStatus
from tests.factories import make_account, make_contact, now, system
from tests.sending.test_senders import MOBILE, setup_account, verify
from tests.sending.test_senders import send as sender_send
from tests.conftest import not_applicable

NUMBER = "+46701234567"
OTHER = "+46709876543"
TEXTS = ("Första: skolan stänger 12.00", "Andra: simhallen är stängd", "Tredje: välkommen på möte")
LIMIT = 5000


def dpo(account: Account) -> Actor:
    return Actor(kind="user", id=1, account_id=account.id, account_name=account.name, roles=frozenset({Role.DPO}))  # type: ignore[arg-type]


def person_of(session: Session, account: Account, e164: str = NUMBER) -> Person:
    vault = vault_of(session)
    assert account.id is not None
    index = vault.blind_indexes(session, account.id, [e164], now=now())[e164]
    subject = vault.find_subjects(session, account.id, [e164], now=now()).get(e164)
    return Person(account_id=account.id, blind_index=index, subject=subject, e164=e164)


@dataclass
class Held:
    account: Account
    dispatches: list[int]
    contact_id: int
    hold_id: int
    ended_hold_id: int
    parts: list[str]
    """The provider ids of the person's messages' parts (and of their waiting reports)."""


def send(session: Session, account: Account, numbers: list[str], message: str) -> int:
    dispatch_id = create_dispatch(
        session, system(account), DispatchRequest(sender="Kommunen", text=message, numbers=numbers), public_url="https://sms.example", now=now(),
    ).dispatch_id
    assert dispatch_id is not None
    # Each message as the worker leaves it: delivered, a part, a delivery report waiting for it, an opt-out token.
    for message_id in session.execute(text("SELECT id FROM outbound_message WHERE dispatch_id = :d"), {"d": dispatch_id}).scalars():
        session.execute(
            text("UPDATE outbound_message SET status = 'delivered', optout_token = :t WHERE id = :m"), {"t": f"t{message_id}", "m": message_id},
        )
        session.execute(
            text("INSERT INTO message_part (provider_id, message_id, part, status) VALUES (:p, :m, 0, 'delivered')"),
            {"p": f"p{account.id}-{message_id}", "m": message_id},
        )
        session.execute(
            text("INSERT INTO pending_report (provider_id, status, received_at) VALUES (:p, 'delivered', :t)"),
            {"p": f"p{account.id}-{message_id}", "t": now()},
        )
    return dispatch_id


def hold_everything(session: Session) -> Held:
    """The person of the issue's test in a new account: a contact in two groups, 3 SMS (the second
    one to another recipient too), a pending import file with the number, blocked, a hold in force
    and an ended one."""
    seed_default_prices(session, now=now())
    account = make_account(session)
    actor = system(account)
    contact = make_contact(session, account, number="070-123 45 67", name="Åsa Öberg", note="Förälder")
    for name in ("Styrelsen", "Föräldrar 3B"):
        group = create_group(session, actor, name=name, now=now())
        add_members(session, actor, group.id, [contact.id], now=now())
    dispatches = [
        send(session, account, [NUMBER], TEXTS[0]),
        send(session, account, [NUMBER, OTHER], TEXTS[1]),
        send(session, account, [NUMBER], TEXTS[2]),
    ]
    store_upload(session, actor, "lista.csv", "nummer;namn\n070-123 45 67;Åsa Öberg\n0701112233;Bo Ek\n".encode(), now=now())
    store_upload(session, actor, "annan.csv", b"nummer;namn\n0701112233;Bo Ek\n", now=now())  # not the person's
    blocklist.block_number(session, actor, NUMBER, source="manual", now=now())
    index = person_of(session, account).blind_index
    hold = place_legal_hold(session, dpo(account), blind_index=index, reason="Tvist om faktura", until=now().date() + timedelta(days=5), now=now())
    ended = place_legal_hold(session, dpo(account), blind_index=index, reason="Äldre tvist", until=now().date(), now=now())
    assert ended.id is not None and hold.id is not None
    end_legal_hold(session, dpo(account), ended.id, now=now())
    session.flush()
    parts = [f"p{account.id}-{message_id}" for message_id in session.execute(
        text("SELECT id FROM outbound_message WHERE account_id = :a AND subject_id = :s"), {"a": account.id, "s": contact.subject_id}
    ).scalars()]
    return Held(account, dispatches, contact.id, hold.id, ended.id, parts)


def finds(session: Session, person: Person) -> dict[str, Found]:
    found = {}
    for holding in all_holdings():
        if holding.find is not None and (result := holding.find(session, person)) is not None and result.count:
            assert result.table == holding.table
            found[holding.table] = result
    return found


def erase(session: Session, person: Person, *, limit: int = LIMIT, unblock: bool = False) -> dict[str, int]:
    """Every holding's erase until it returns fewer than ``limit`` (what the erasure does); the rows
    each deleted, and how many calls it took."""
    deleted: dict[str, int] = {}
    calls = 0
    for holding in all_holdings():
        if holding.erase is None or (holding.erase_on and not (unblock and holding.erase_on == "unblock")):
            continue
        while True:
            went = holding.erase(session, person, limit=limit, now=now())
            calls += 1
            assert went <= max(limit, 2), f"{holding.table}: {went} rows for a limit of {limit}"
            deleted[holding.table] = deleted.get(holding.table, 0) + went
            if went < limit:
                break
    session.flush()
    deleted["calls"] = calls
    return deleted


def raw_counts(session: Session, held: Held, e164: str = NUMBER) -> dict[str, int]:
    """The person's rows, counted in raw SQL."""
    person = person_of(session, held.account, e164)
    account, subject, index = held.account.id, person.subject_id or -1, person.blind_index

    def count(sql: str, **params: object) -> int:
        return int(session.execute(text(sql), {"a": account, "s": subject, "i": index, **params}).scalar_one())

    return {
        "contact": count("SELECT count(*) FROM contact WHERE account_id = :a AND subject_id = :s"),
        "group_member": count(
            "SELECT count(*) FROM group_member m JOIN contact c ON c.id = m.contact_id WHERE c.account_id = :a AND c.subject_id = :s"
        ),
        "outbound_message": count("SELECT count(*) FROM outbound_message WHERE account_id = :a AND subject_id = :s"),
        "message_part": sum(count("SELECT count(*) FROM message_part WHERE provider_id = :p", p=part) for part in held.parts),
        "pending_report": sum(count("SELECT count(*) FROM pending_report WHERE provider_id = :p", p=part) for part in held.parts),
        "import_upload": count("SELECT count(*) FROM import_upload WHERE account_id = :a"),
        "block_entry": count("SELECT count(*) FROM block_entry WHERE account_id = :a AND blind_index = :i"),
        "legal_hold": count("SELECT count(*) FROM legal_hold WHERE account_id = :a AND blind_index = :i"),
    }


def dispatch_text(session: Session, account: Account, dispatch_id: int) -> str:
    assert account.id is not None
    key = vault_of(session).account_key(session, account.id, DATA_PURPOSE, now=now())
    blob = session.execute(text("SELECT text_ct FROM dispatch WHERE id = :d"), {"d": dispatch_id}).scalar_one()
    return unseal_field(key, DISPATCH_TEXT, account.id, dispatch_id, bytes(blob)).decode()


# -- the registry --------------------------------------------------------------------------------


def erased_through_parent(holding: Holding, by_table: dict[str, Holding]) -> bool:
    """A table linked only through a parent (``via``) whose erasure deletes its rows."""
    parent = by_table.get(holding.via)
    return parent is not None and (parent.erase is not None or erased_through_parent(parent, by_table))


def test_every_holding_is_erased_or_says_why_it_is_kept() -> None:
    holdings = all_holdings()
    by_table = {holding.table: holding for holding in holdings}
    for holding in holdings:
        assert holding.erase is not None or holding.kept.strip() or erased_through_parent(holding, by_table), (
            f"{holding.table}: give it an erase, or a kept reason (N_()), in its domain's personal_data.py"
        )
        if holding.erase_on:
            assert holding.erase is not None and holding.kept.strip(), f"{holding.table}: erased only on request, so say why it is kept otherwise"


NOT_SEARCHED = {
    "subject_key": "the person's key: the search uses it, the erasure destroys it",
    "subject_erasure": "the record that the person was erased: after an erasure the search finds nothing",
}


def test_every_holding_tied_to_a_person_with_sealed_or_indexed_data_is_found() -> None:
    for holding in all_holdings():
        per_person = holding.link in (Link.SUBJECT_ID, Link.BLIND_INDEX)
        if per_person and (holding.sealed or holding.blind_indexes) and holding.table not in NOT_SEARCHED:
            assert holding.find is not None, f"{holding.table}: the data-subject search cannot find it (declare find)"
        if holding.export is not None or holding.erase is not None:
            assert holding.find is not None, f"{holding.table}: exported or erased, but the search does not show it"
        assert holding.table in metadata.tables


# -- find and export -----------------------------------------------------------------------------


def test_find_reports_every_holding_of_the_person(session: Session) -> None:
    held = hold_everything(session)
    found = finds(session, person_of(session, held.account))
    assert set(found) >= {"contact", "group_member", "outbound_message", "import_upload", "block_entry", "legal_hold"}
    assert sorted(found["contact"].lines) == ["Group: Föräldrar 3B", "Group: Styrelsen"]
    assert found["group_member"].count == 2
    messages = found["outbound_message"]
    assert messages.count == 3 and messages.first_at is not None and messages.last_at is not None
    assert [f"Dispatch {dispatch_id}" for dispatch_id in reversed(held.dispatches)] == list(messages.lines[:3])
    assert "Opt-out links: 3" in messages.lines
    assert found["import_upload"].count == 1  # the other file does not hold the number
    assert found["block_entry"].lines == ("Blocked: added by hand",)
    assert found["legal_hold"].count == 2
    assert "Legal hold until" in found["legal_hold"].lines[0] and "Tvist om faktura" in found["legal_hold"].lines[0]
    # Nothing of another number: its SMS only (it got the second one).
    other = finds(session, person_of(session, held.account, OTHER))
    assert set(other) == {"outbound_message"} and other["outbound_message"].count == 1
    # Without a key only the blind-indexed holdings can hold anything, and the search still runs.
    keyless = replace(person_of(session, held.account), subject=None)
    assert set(finds(session, keyless)) == {"import_upload", "block_entry", "legal_hold"}


def test_find_names_ten_dispatches_and_counts_the_rest(session: Session) -> None:
    seed_default_prices(session, now=now())
    account = make_account(session)
    dispatches = [send(session, account, [NUMBER], f"Utskick {n}") for n in range(12)]
    lines = finds(session, person_of(session, account))["outbound_message"].lines
    assert lines[:10] == tuple(f"Dispatch {dispatch_id}" for dispatch_id in reversed(dispatches[2:]))
    assert lines[10] == "and 2 more dispatches"


def test_export_returns_the_number_the_name_and_the_three_texts(session: Session) -> None:
    held = hold_everything(session)
    person = person_of(session, held.account)
    exported = {holding.table: holding.export(session, person) for holding in all_holdings() if holding.export is not None}
    [contact] = exported["contact"]
    assert (contact["number"], contact["name"], contact["note"]) == (NUMBER, "Åsa Öberg", "Förälder")
    assert sorted(contact["groups"]) == ["Föräldrar 3B", "Styrelsen"]  # type: ignore[call-overload]
    messages = exported["outbound_message"]
    assert [message["text"] for message in messages] == list(TEXTS)
    assert {message["number"] for message in messages} == {NUMBER}
    assert all(message["sender"] == "Kommunen" and message["status"] == "delivered" and message["optout_link"] is True for message in messages)
    assert all("t" + str(message["id"]) not in str(message.values()) for message in messages)  # the token itself is not handed out
    [upload] = exported["import_upload"]
    assert upload["filename"] == "lista.csv" and upload["rows"] == [{"row": 2, "number": NUMBER, "name": "Åsa Öberg"}]
    assert exported["block_entry"] == [{"source": "manual", "blocked_at": exported["block_entry"][0]["blocked_at"]}]
    assert sorted(hold["reason"] for hold in exported["legal_hold"]) == ["Tvist om faktura", "Äldre tvist"]  # type: ignore[type-var]
    assert exported["dispatch"] == [] and exported["sender_number"] == []


# -- erase ---------------------------------------------------------------------------------------


def test_erase_removes_every_row_keeps_the_block_and_the_hold_in_force(session: Session) -> None:
    held = hold_everything(session)
    twin = hold_everything(session)  # another account, the same number and the same data
    before = raw_counts(session, twin)
    assert raw_counts(session, held) == {
        "contact": 1, "group_member": 2, "outbound_message": 3, "message_part": 3, "pending_report": 3, "import_upload": 2,
        "block_entry": 1, "legal_hold": 2,
    }
    # As an interrupted erasure resumes: no number in clear, the key and the blind index only.
    person = replace(person_of(session, held.account), e164="")
    deleted = erase(session, person)
    assert {table: count for table, count in deleted.items() if count and table != "calls"} == {
        "contact": 1, "outbound_message": 3, "import_upload": 1, "legal_hold": 1,
    }
    assert raw_counts(session, held) == {
        "contact": 0, "group_member": 0, "outbound_message": 0, "message_part": 0, "pending_report": 0,
        "import_upload": 1,  # the other file, without the number
        "block_entry": 1,  # still blocked
        "legal_hold": 1,  # the hold in force (the erasure refuses while it is: active_holds)
    }
    assert [hold.id for hold in active_holds(session, held.account.id, person.blind_index, now=now())] == [held.hold_id]  # type: ignore[arg-type]
    # The dispatches the person alone got lost their text; the one to another recipient keeps it.
    first, shared, third = held.dispatches
    assert dispatch_text(session, held.account, first) == "" and dispatch_text(session, held.account, third) == ""
    assert dispatch_text(session, held.account, shared) == TEXTS[1]
    assert set(finds(session, person)) == {"block_entry", "legal_hold"}
    # Idempotent: again, nothing goes.
    again = erase(session, person)
    assert sum(count for table, count in again.items() if table != "calls") == 0
    # Unblocked only when asked to be.
    assert erase(session, person, unblock=True)["block_entry"] == 1
    assert raw_counts(session, held)["block_entry"] == 0
    # The other account's same number: untouched.
    assert raw_counts(session, twin) == before
    assert all(dispatch_text(session, twin.account, dispatch_id) == message for dispatch_id, message in zip(twin.dispatches, TEXTS, strict=True))
    assert set(finds(session, person_of(session, twin.account))) >= {"contact", "outbound_message", "import_upload", "block_entry"}


def test_a_dispatch_loses_its_text_once_its_last_recipient_is_erased(session: Session) -> None:
    held = hold_everything(session)
    shared = held.dispatches[1]
    erase(session, person_of(session, held.account))
    assert dispatch_text(session, held.account, shared) == TEXTS[1]
    erase(session, person_of(session, held.account, OTHER))
    assert dispatch_text(session, held.account, shared) == ""


def test_erase_with_a_limit_of_one_resumes_call_by_call(session: Session) -> None:
    held = hold_everything(session)
    person = replace(person_of(session, held.account), e164="")
    deleted = erase(session, person, limit=1)
    assert deleted["outbound_message"] == 3 and deleted["calls"] > 3
    assert raw_counts(session, held)["outbound_message"] == raw_counts(session, held)["message_part"] == 0
    assert dispatch_text(session, held.account, held.dispatches[0]) == "" and dispatch_text(session, held.account, held.dispatches[1]) == TEXTS[1]


def test_an_interrupted_erasure_leaves_a_consistent_state(session: Session) -> None:
    """One call is one transaction: after any call the rest is still found and erased later."""
    held = hold_everything(session)
    person = person_of(session, held.account)
    outbound = next(holding for holding in all_holdings() if holding.table == "outbound_message")
    assert outbound.erase is not None
    assert outbound.erase(session, person, limit=2, now=now()) == 2
    found = finds(session, person)["outbound_message"]
    assert found.count == 1
    assert outbound.erase(session, person, limit=2, now=now()) == 1
    assert outbound.erase(session, person, limit=2, now=now()) == 0


# -- the figures ---------------------------------------------------------------------------------


def many_messages(session: Session, account: Account, person: Person, count: int, *, subjects: int = 1) -> None:
    """``count`` delivered SMS with a part each, copied from one real message (``subjects``:
    spread over that many subject ids, the person's first)."""
    dispatch_id = send(session, account, [NUMBER], "Många")
    message = session.execute(select(OutboundMessage).where(col(OutboundMessage.dispatch_id) == dispatch_id)).scalar_one()
    row = {column.name: getattr(message, column.name) for column in table_of(OutboundMessage).columns if column.name != "id"}
    row["optout_token"] = None
    base = int(session.execute(text("SELECT coalesce(max(id), 0) FROM outbound_message")).scalar_one()) + 1
    rows = [{**row, "id": base + n, "subject_id": person.subject_id if n % subjects == 0 else 10_000_000 + n % subjects} for n in range(count)]
    bulk_insert(session, table_of(OutboundMessage), rows)
    bulk_insert(session, metadata.tables["message_part"], [
        {"provider_id": f"bulk-{base + n}", "message_id": base + n, "part": 0, "status": MessageStatus.DELIVERED} for n in range(count)
    ])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT setval(pg_get_serial_sequence('outbound_message', 'id'), :m)"), {"m": base + count})


def test_erasing_ten_thousand_sms_is_a_few_chunked_statements(session: Session) -> None:
    seed_default_prices(session, now=now())
    account = make_account(session)
    send(session, account, [NUMBER], "Först")
    person = person_of(session, account)
    many_messages(session, account, person, 10_000)
    session.flush()
    assert finds(session, person)["outbound_message"].count == 10_002
    statements: list[str] = []

    def listen(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(session.connection(), "before_cursor_execute", listen)
    deleted = erase(session, person)
    event.remove(session.connection(), "before_cursor_execute", listen)
    assert deleted["outbound_message"] == 10_002
    assert int(session.execute(text("SELECT count(*) FROM message_part WHERE provider_id LIKE 'bulk-%'")).scalar_one()) == 0
    # Chunked bulk deletes: a handful of statements per 5,000 messages, none per message.
    # (Its time is measured by bench/subject_requests.py, never asserted here.)
    assert len(statements) < 60, statements


def test_the_search_of_sent_sms_uses_the_subject_index(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        not_applicable("the plan is PostgreSQL's")
    seed_default_prices(session, now=now())
    account = make_account(session)
    send(session, account, [NUMBER], "Först")
    person = person_of(session, account)
    many_messages(session, account, person, 20_000, subjects=2_000)
    session.execute(text("ANALYZE outbound_message"))
    statement = message_totals(person).compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    plan = "\n".join(session.execute(text(f"EXPLAIN {statement}")).scalars())
    assert "ix_outbound_message_subject_id" in plan, plan


# -- the person as a sender ----------------------------------------------------------------------


def test_a_users_own_sender_number_is_found_exported_and_erased(session: Session, connection: Connection, vault: Vault) -> None:
    """A user's mobile number verified as a sender: its sender_number row, the dispatches sent
    from it (the number sealed in each) and the code SMS it got."""
    account, actor = setup_account(session)
    verify(session, connection, vault, actor)
    sent = [sender_send(session, actor, MOBILE).dispatch_id for _ in range(2)]
    session.flush()
    person = person_of(session, account, MOBILE)
    found = finds(session, person)
    assert found["sender_number"].lines == ("Sender number, verified",)
    assert found["dispatch"].count == 2 and found["outbound_message"].count == 1  # the code came by SMS
    exported = {holding.table: holding.export(session, person) for holding in all_holdings() if holding.export is not None}
    assert [(record["dispatch_id"], record["sender"]) for record in exported["dispatch"]] == [(dispatch_id, MOBILE) for dispatch_id in sent]
    [own] = exported["sender_number"]
    assert own["number"] == MOBILE and own["verified_at"] is not None
    deleted = erase(session, replace(person, e164=""))
    assert deleted["dispatch"] == 2 and deleted["sender_number"] == 1 and deleted["outbound_message"] == 1
    assert session.execute(
        text("SELECT count(*) FROM dispatch WHERE account_id = :a AND (sender_ct IS NOT NULL OR sender_subject_id IS NOT NULL)"), {"a": account.id}
    ).scalar_one() == 0
    assert session.execute(text("SELECT count(*) FROM sender_number WHERE account_id = :a"), {"a": account.id}).scalar_one() == 0
    session.expire_all()
    dispatches = list(session.execute(select(Dispatch).where(col(Dispatch.id).in_(sent))).scalars())
    assert set(dispatch_senders(session, actor, dispatches, now=now()).values()) == {"(erased)"}
    assert finds(session, person) == {}


def test_a_busy_or_slow_file_reader_is_not_taken_for_nothing_found(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader refuses for now (all reading processes busy, or reading took too long): the
    search says the file could not be checked now and counts it; export and erase refuse with a
    retryable error instead of passing over it."""
    import subprocess

    from govsms.contacts import filereader
    from govsms.contacts.subject_data import UploadsNotChecked, erase_uploads, export_uploads, find_uploads

    account = make_account(session)
    store_upload(session, system(account), "lista.csv", "nummer;namn\n070-123 45 67;Åsa Öberg\n".encode(), now=now())
    session.flush()
    person = person_of(session, account)
    found = find_uploads(session, person)
    assert found is not None and found.count == 1 and not found.lines
    monkeypatch.setattr(filereader._parsers, "acquire", lambda timeout=None: False)  # other uploads are being read
    found = find_uploads(session, person)
    assert found is not None and found.count == 1 and "could not be checked for the number now" in found.lines[0]
    with pytest.raises(UploadsNotChecked, match="erasure stopped"):
        erase_uploads(session, person, limit=LIMIT, now=now())
    with pytest.raises(UploadsNotChecked, match="Nothing was exported"):
        export_uploads(session, person)
    monkeypatch.undo()

    def too_slow(*args: object, **kwargs: object) -> object:
        raise subprocess.TimeoutExpired(cmd="tablereader", timeout=1)

    monkeypatch.setattr(filereader.subprocess, "run", too_slow)
    found = find_uploads(session, person)
    assert found is not None and found.count == 1 and "could not be checked for the number now" in found.lines[0]
    with pytest.raises(UploadsNotChecked):
        erase_uploads(session, person, limit=LIMIT, now=now())
    monkeypatch.undo()
    assert erase_uploads(session, person, limit=LIMIT, now=now()) == 1


def test_a_file_that_cannot_be_read_at_all_is_skipped_and_said(session: Session) -> None:
    """A file that is not a table (named .xlsx, not a workbook) cannot be checked ever: it is
    passed over, and the search says so; the erasure does not stop on it."""
    from govsms.contacts.subject_data import erase_uploads, find_uploads

    account = make_account(session)
    store_upload(session, system(account), "lista.xlsx", b"070-123 45 67 this is no workbook", now=now())
    session.flush()
    person = person_of(session, account)
    found = find_uploads(session, person)
    assert found is not None and found.count == 0 and "cannot be read" in found.lines[0]
    assert erase_uploads(session, person, limit=LIMIT, now=now()) == 0
