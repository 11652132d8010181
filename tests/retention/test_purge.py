"""The purge of sent SMS (issue 12 item 3, "Done when"), on SQLite and PostgreSQL: with a storage
time of 30 days, messages 31 days old go with their parts, waiting delivery reports and opt-out
tokens (read back from the raw tables), messages 29 days old stay, the statistics of the old days
are unchanged, the run is an audit event; a legal hold on a number keeps its messages and the
report counts them as held; another account's messages are untouched; a dry run deletes nothing
and reports the same counts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from govsms.auth import Actor, Role
from govsms.db import make_session_factory
from govsms.errors import Forbidden, InvalidInput
from govsms.keys.store import Vault, vault_of
from govsms.registry import all_holdings
from govsms.retention.holds import holds_in_force, place_legal_hold
from govsms.retention.purge import purge_history, run_purge
from govsms.retention.service import set_storage_times_for
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from govsms.sending.statistics import roll_up, rolled_up_through
from govsms.sending.status import MessageStatus
from tests.factories import audit_events, make_account, system

NOW = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
OLD, NEW = NOW - timedelta(days=31), NOW - timedelta(days=29)
HELD_NUMBER = "+46701000009"


def _actor(account, role: Role) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(kind="user", id=1, account_id=account.id, account_name=account.name, roles=frozenset({role}))


def send(session: Session, account, numbers: list[str], *, at: datetime) -> list[int]:  # type: ignore[no-untyped-def]
    """A dispatch at ``at``, its messages delivered, each with a part, a waiting delivery report of
    that part and an opt-out token; the messages' ids."""
    dispatch_id = create_dispatch(
        session, system(account), DispatchRequest(sender="Skolan", text="Hej", numbers=numbers), public_url="https://sms.example", now=at,
    ).dispatch_id
    ids = list(session.execute(
        text("SELECT id FROM outbound_message WHERE dispatch_id = :d ORDER BY id"), {"d": dispatch_id}
    ).scalars())
    for message_id in ids:
        session.execute(
            update(OutboundMessage).where(col(OutboundMessage.id) == message_id)
            .values(status=MessageStatus.DELIVERED, optout_token=f"tok{message_id}")
        )
        session.execute(
            text("INSERT INTO message_part (provider_id, message_id, part, status) VALUES (:p, :m, 1, 'delivered')"),
            {"p": f"prov-{message_id}", "m": message_id},
        )
        session.execute(
            text("INSERT INTO pending_report (provider_id, status, received_at) VALUES (:p, 'delivered', :t)"),
            {"p": f"prov-{message_id}", "t": at},
        )
    session.flush()
    return ids


def raw_ids(session: Session, table: str, column: str, values: list[int] | list[str]) -> set[object]:
    found: set[object] = set()
    for value in values:
        found.update(session.execute(text(f"SELECT {column} FROM {table} WHERE {column} = :v"), {"v": value}).scalars())
    return found


def statistics_rows(session: Session, account_id: int) -> list[tuple[object, ...]]:
    return [tuple(row) for row in session.execute(text(
        "SELECT day, country, sender_kind, status, messages, parts, cost_minor, delivered, failed, blocked FROM statistics_day"
        " WHERE account_id = :a ORDER BY day, country, sender_kind, status"
    ), {"a": account_id}).all()]


@pytest.fixture
def factory(connection: Connection, vault: Vault):  # type: ignore[no-untyped-def]
    return make_session_factory(connection, vault=vault)


def test_sent_sms_past_their_storage_time_go_held_and_newer_ones_stay(session: Session, factory) -> None:  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=OLD - timedelta(days=1))
    account, other = make_account(session), make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=OLD - timedelta(days=1))
    old = send(session, account, ["0701000001", "0701000002"], at=OLD)
    old_held = send(session, account, [HELD_NUMBER], at=OLD)
    new = send(session, account, ["0701000001", HELD_NUMBER], at=NEW)
    others = send(session, other, ["0701000001"], at=OLD - timedelta(days=10))
    old_dispatch = session.execute(text("SELECT dispatch_id FROM outbound_message WHERE id = :i"), {"i": old[0]}).scalar()
    roll_up(session, now=NOW)
    assert rolled_up_through(session, account.id) == date(2026, 11, 29)
    statistics = statistics_rows(session, account.id)
    assert sum(int(row[4]) for row in statistics) == 5  # type: ignore[call-overload]
    index = vault_of(session).blind_indexes(session, account.id, [HELD_NUMBER], now=NOW)[HELD_NUMBER]
    place_legal_hold(session, _actor(account, Role.DPO), blind_index=index, reason="Tvist", until=NOW.date() + timedelta(days=5), now=NOW)
    session.flush()
    accounts = [account.id, other.id]

    dry = run_purge(factory, all_holdings(), now=NOW, dry_run=True, account_ids=accounts, batch=1)
    assert dry.counts()["outbound_message"] == {"deleted": 2, "held": 1}
    assert dry.categories()["outbound_messages"]["deleted"] == 2
    assert raw_ids(session, "outbound_message", "id", old) == set(old)
    assert not audit_events(session, "retention.purge_run")

    report = run_purge(factory, all_holdings(), now=NOW, account_ids=accounts, batch=1)  # one row per transaction
    assert report.counts()["outbound_message"] == {"deleted": 2, "held": 1}
    assert report.categories()["outbound_messages"]["held"] == 1
    # Gone from the raw tables: the old messages, their parts, the reports waiting for them, their tokens.
    assert raw_ids(session, "outbound_message", "id", old) == set()
    assert raw_ids(session, "message_part", "message_id", old) == set()
    assert raw_ids(session, "pending_report", "provider_id", [f"prov-{i}" for i in old]) == set()
    assert raw_ids(session, "outbound_message", "optout_token", [f"tok{i}" for i in old]) == set()
    # The held number's old message, the newer ones and the other account's stay, with their parts.
    kept = [*old_held, *new]
    assert raw_ids(session, "outbound_message", "id", kept) == set(kept)
    assert raw_ids(session, "message_part", "message_id", kept) == set(kept)
    assert raw_ids(session, "outbound_message", "id", others) == set(others)
    assert raw_ids(session, "pending_report", "provider_id", [f"prov-{i}" for i in others]) == {f"prov-{i}" for i in others}
    # The old dispatch had no message left: gone too (its text with it).
    assert raw_ids(session, "dispatch", "id", [old_dispatch]) == set()  # type: ignore[list-item]
    assert report.counts()["dispatch"]["deleted"] == 1
    assert statistics_rows(session, account.id) == statistics
    [account_event, run_event] = audit_events(session, "retention.purge_run")  # the account's own, then the run's
    details = json.loads(run_event.details or "{}")
    assert run_event.account_id is None and details["accounts"] == 2
    assert (details["outbound_message_deleted"], details["outbound_message_held"], details["dispatch_deleted"]) == (2, 1, 1)
    assert account_event.account_id == account.id
    assert json.loads(account_event.details or "{}") == {
        "outbound_message_deleted": 2, "outbound_message_held": 1, "dispatch_deleted": 1, "dispatch_held": 0,
    }
    assert not audit_events(session, "retention.purge_run", other.id)  # nothing of it went
    [past] = purge_history(session, account.id)
    assert (past.deleted, past.held) == (3, 1)

    # Nothing more to go: a second run deletes nothing and still counts the held message.
    again = run_purge(factory, all_holdings(), now=NOW, account_ids=accounts)
    assert again.counts()["outbound_message"] == {"deleted": 0, "held": 1}


def test_a_hold_on_the_account_stops_its_purge(session: Session, factory) -> None:  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=OLD - timedelta(days=1))
    account = make_account(session)
    set_storage_times_for(session, _actor(account, Role.DPO), {"outbound_messages": 30}, now=OLD - timedelta(days=1))
    old = send(session, account, ["0701000001", "0701000002"], at=OLD)
    roll_up(session, now=NOW)
    place_legal_hold(session, _actor(account, Role.DPO), blind_index=None, reason="Granskning", until=NOW.date(), now=NOW)
    session.flush()
    report = run_purge(factory, all_holdings(), now=NOW, account_ids=[account.id])
    assert report.counts()["outbound_message"] == {"deleted": 0, "held": 2}
    assert raw_ids(session, "outbound_message", "id", old) == set(old)
    # The hold ends with its end date: the next day the messages go.
    later = run_purge(factory, all_holdings(), now=NOW + timedelta(days=1), account_ids=[account.id])
    assert later.counts()["outbound_message"] == {"deleted": 2, "held": 0}


def test_no_message_of_a_day_not_rolled_up_goes(session: Session, factory) -> None:  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=OLD - timedelta(days=1))
    account = make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=OLD - timedelta(days=1))
    old = send(session, account, ["0701000001"], at=OLD)
    session.flush()
    report = run_purge(factory, all_holdings(), now=NOW, account_ids=[account.id])
    assert report.counts()["outbound_message"] == {"deleted": 0, "held": 0}
    assert raw_ids(session, "outbound_message", "id", old) == set(old)


def test_only_the_dpo_places_a_hold_with_a_reason_and_an_end_date(session: Session) -> None:
    account = make_account(session)
    with pytest.raises(Forbidden):
        place_legal_hold(session, _actor(account, Role.ADMIN), blind_index=None, reason="x", until=NOW.date(), now=NOW)
    with pytest.raises(InvalidInput) as refused:
        place_legal_hold(session, _actor(account, Role.DPO), blind_index=None, reason=" ", until=NOW.date() - timedelta(days=1), now=NOW)
    assert set(refused.value.fields) == {"reason", "until"}
    hold = place_legal_hold(session, _actor(account, Role.DPO), blind_index=b"\x01" * 16, reason="Tvist", until=NOW.date(), now=NOW)
    assert holds_in_force(session, account.id, today=NOW.date()).numbers == frozenset({b"\x01" * 16})
    [event] = audit_events(session, "retention.legal_hold_added", account.id)
    assert json.loads(event.details or "{}") == {"on": "number", "until": NOW.date().isoformat()}
    assert hold.id is not None


def test_the_retention_run_destroys_the_key_of_a_subject_whose_last_data_went(session: Session, factory, keys) -> None:  # type: ignore[no-untyped-def]
    from govsms.lifecycle import run_retention, step_counts

    seed_default_prices(session, now=OLD - timedelta(days=1))
    account = make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=OLD - timedelta(days=1))
    send(session, account, ["0701000001", "0701000002"], at=OLD)
    send(session, account, ["0701000001"], at=NEW)
    roll_up(session, now=NOW)
    indexes = vault_of(session).blind_indexes(session, account.id, ["+46701000001", "+46701000002"], now=NOW)
    session.flush()

    def key_rows(number: str) -> int:
        return int(session.execute(
            text("SELECT count(*) FROM subject_key WHERE account_id = :a AND blind_index = :b"), {"a": account.id, "b": indexes[number]}
        ).scalar() or 0)

    assert key_rows("+46701000001") == key_rows("+46701000002") == 1
    run = run_retention(factory, keys.audit_signing_seed, now=NOW)
    assert step_counts(run)["outbound_message_deleted"] == 2
    assert run.keys_destroyed >= 1
    assert key_rows("+46701000002") == 0  # its only message went: no key left (raw scan of the key store)
    assert key_rows("+46701000001") == 1  # still protects the newer message


def test_the_settings_page_previews_the_next_purge(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_user
    from tests.web_helpers import login

    moment = datetime.now(UTC)
    seed_default_prices(session, now=moment - timedelta(days=40))
    account = make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=moment - timedelta(days=40))
    old = send(session, account, ["0701000001", "0701000002", HELD_NUMBER], at=moment - timedelta(days=31))
    roll_up(session, now=moment)
    index = vault_of(session).blind_indexes(session, account.id, [HELD_NUMBER], now=moment)[HELD_NUMBER]
    place_legal_hold(session, _actor(account, Role.DPO), blind_index=index, reason="Tvist", until=moment.date(), now=moment)
    user, password = make_user(session, account, roles={Role.DPO})
    session.flush()
    login(client, user.email, password)
    page = client.get("/settings/retention")
    assert page.status_code == 200
    assert "Nästa rensning: skulle radera 2; 1 bevaras av ett bevarandebeslut" in page.text
    assert raw_ids(session, "outbound_message", "id", old) == set(old)  # a preview deletes nothing
    assert "Ingen rensning har ännu raderat" in page.text
    session.commit()  # the page's session reads what the purge (on the same connection) wrote
    run_purge(make_session_factory(session.connection()), all_holdings(), now=moment, account_ids=[account.id])
    history = client.get("/settings/retention").text
    assert 'id="purge-history"' in history and "<td>2</td><td>1</td>" in history
    assert "Nästa rensning: skulle radera 0; 1 bevaras" in history


def test_a_hold_on_a_number_holds_with_a_separate_key_store(connection: Connection, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With GOVSMS_KEYSTORE_URL the subject keys are in another database: the held number's
    subject is found there."""
    from govsms.db import make_engine
    from govsms.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    store_engine = make_engine(url)
    try:
        vault = Vault(keys, keystore=make_session_factory(store_engine))
        factory = make_session_factory(connection, vault=vault)
        session = factory()
        seed_default_prices(session, now=OLD - timedelta(days=1))
        account = make_account(session)
        set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=OLD - timedelta(days=1))
        old = send(session, account, ["0701000001"], at=OLD)
        held = send(session, account, [HELD_NUMBER], at=OLD)
        roll_up(session, now=NOW)
        index = vault.blind_indexes(session, account.id, [HELD_NUMBER], now=NOW)[HELD_NUMBER]
        place_legal_hold(session, _actor(account, Role.DPO), blind_index=index, reason="Tvist", until=NOW.date(), now=NOW)
        session.flush()
        assert not session.execute(text("SELECT count(*) FROM subject_key WHERE account_id = :a"), {"a": account.id}).scalar()
        report = run_purge(factory, all_holdings(), now=NOW, account_ids=[account.id])
        assert report.counts()["outbound_message"] == {"deleted": 1, "held": 1}
        assert raw_ids(session, "outbound_message", "id", [*old, *held]) == set(held)
        session.close()
    finally:
        store_engine.dispose()


def test_a_retention_run_records_one_key_destruction_event_with_its_total(session: Session, factory, keys) -> None:  # type: ignore[no-untyped-def]
    """Keys are destroyed in batches (here one a transaction), the access log has one event for
    the run, its count the sum of the batches'."""
    from govsms.lifecycle import run_retention

    seed_default_prices(session, now=OLD - timedelta(days=1))
    account = make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=OLD - timedelta(days=1))
    send(session, account, ["0701000001", "0701000002", "0701000003"], at=OLD)
    roll_up(session, now=NOW)
    session.commit()
    run = run_retention(factory, keys.audit_signing_seed, now=NOW, batch=1)
    assert run.keys_destroyed >= 3
    [event] = audit_events(session, "keys.subject_keys_destroyed")
    assert json.loads(event.details or "{}") == {"destroyed": run.keys_destroyed}


def test_a_dispatch_scheduled_far_ahead_holds_back_only_its_own_day(session: Session, factory) -> None:  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=OLD - timedelta(days=10))
    account = make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"outbound_messages": 30}, now=OLD - timedelta(days=10))
    scheduled_at = OLD - timedelta(days=5)
    scheduled = create_dispatch(
        session, system(account), DispatchRequest(sender="Skolan", text="Hej", numbers=["0701000001"], send_at=NOW + timedelta(days=200)),
        public_url="https://sms.example", now=scheduled_at,
    ).dispatch_id
    waiting = list(session.execute(text("SELECT id, status FROM outbound_message WHERE dispatch_id = :d"), {"d": scheduled}).all())
    assert [row[1] for row in waiting] == [MessageStatus.SCHEDULED]
    older = send(session, account, ["0701000002"], at=OLD - timedelta(days=3))
    queued = create_dispatch(
        session, system(account), DispatchRequest(sender="Skolan", text="Hej", numbers=["0701000003"]),
        public_url="https://sms.example", now=OLD - timedelta(days=1),
    ).dispatch_id
    still_queued = list(session.execute(text("SELECT id FROM outbound_message WHERE dispatch_id = :d"), {"d": queued}).scalars())
    old = send(session, account, ["0701000004"], at=OLD)
    roll_up(session, now=NOW)
    assert rolled_up_through(session, account.id) is None  # its first day still waits for September's message

    report = run_purge(factory, all_holdings(), now=NOW, account_ids=[account.id])
    assert report.counts()["outbound_message"]["deleted"] == 2
    # The complete old days went, though an earlier day waits for a message scheduled far ahead.
    assert raw_ids(session, "outbound_message", "id", [*older, *old]) == set()
    # The scheduled message and the still queued one stay, with their dispatches.
    assert raw_ids(session, "outbound_message", "id", [waiting[0][0], *still_queued]) == {waiting[0][0], *still_queued}
    assert raw_ids(session, "dispatch", "id", [scheduled, queued]) == {scheduled, queued}  # type: ignore[list-item]

    # Once the queued message is delivered its day is rolled up again and may go; the scheduled one stays.
    session.execute(update(OutboundMessage).where(col(OutboundMessage.id).in_(still_queued)).values(status=MessageStatus.DELIVERED))
    roll_up(session, now=NOW)
    run_purge(factory, all_holdings(), now=NOW, account_ids=[account.id])
    assert raw_ids(session, "outbound_message", "id", [waiting[0][0], *still_queued]) == {waiting[0][0]}


def test_the_retention_run_deletes_the_statistics_of_days_past_their_storage_time(session: Session, factory, keys) -> None:  # type: ignore[no-untyped-def]
    """Statistics are their own category (36 months by default): the run deletes an account's
    roll-up of older days, keeps newer days and other accounts', and a dry run only counts."""
    from govsms.lifecycle import run_retention, step_counts
    from govsms.sending.models import StatisticsDay

    account, other = make_account(session), make_account(session)
    set_storage_times_for(session, _actor(account, Role.ADMIN), {"statistics": 400}, now=NOW)

    def row(account_id: int, day: date) -> StatisticsDay:
        return StatisticsDay(account_id=account_id, day=day, country="SE", sender_kind="text", status="delivered", messages=1, parts=1)

    old, kept = (NOW - timedelta(days=401)).date(), (NOW - timedelta(days=399)).date()
    session.add_all([row(account.id, old), row(account.id, kept), row(other.id, old)])
    session.flush()
    assert run_retention(factory, keys.audit_signing_seed, now=NOW, dry_run=True).statistics_rows == 1
    run = run_retention(factory, keys.audit_signing_seed, now=NOW)
    assert run.statistics_rows == 1 and step_counts(run)["statistics_rows_deleted"] == 1
    days = session.execute(
        text("SELECT account_id, day FROM statistics_day WHERE account_id IN (:a, :b) ORDER BY account_id, day"), {"a": account.id, "b": other.id}
    ).all()
    assert [(account_id, str(day)) for account_id, day in days] == [
        (account.id, kept.isoformat()), (other.id, old.isoformat()),  # the other account keeps 1,096 days
    ]
