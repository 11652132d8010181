"""Many clients at once against the app served for real (uvicorn on 127.0.0.1, a database file or
a fresh PostgreSQL database): nothing hangs, nothing answers 500, nothing is sent twice, and a
request that failed committed nothing."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from govsms.auth import Actor
from govsms.accounts.login import LoginLimiter
from govsms.accounts.models import Account
from govsms.contacts.groups import create_group, list_groups
from govsms.contacts.models import ContactGroup
from govsms.db import make_engine
from govsms.keys.store import AccountKey
from govsms.sending import combine as combine_module
from govsms.sending import dispatch as dispatch_module
from govsms.sending.models import Dispatch, OutboundMessage
from tests.factories import make_account, make_api_key, make_user, now
from tests.served import Served, backend, fails_after, in_parallel, serve, worker_to  # noqa: F401
from tests.smsc.fixture import Smsc, smsc  # noqa: F401

CLIENTS = 32
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
ANSWER_WITHIN = 5.0


def timed(call: Callable[[], httpx.Response]) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = call().status_code
    except httpx.TimeoutException:
        status = 0
    return status, time.monotonic() - started


def login_form(client: httpx.Client) -> str:
    match = CSRF_INPUT.search(client.get("/login").text)
    assert match
    return match.group(1)


def health_during(served: Served, stop: threading.Event, seen: list[tuple[int, float]]) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        while not stop.is_set():
            seen.append(timed(lambda: client.get("/health")))
            time.sleep(0.05)


def check_answers(answers: list[tuple[int, float]], allowed: set[int]) -> None:
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= allowed, f"unexpected answers: {statuses}"
    slowest = max(seconds for _, seconds in answers)
    assert slowest < ANSWER_WITHIN, f"slowest answer took {slowest:.1f} s ({statuses})"


def test_parallel_wrong_passwords_and_group_edits_never_hang(serve: Callable[..., Served], production_hashing: None) -> None:
    # With the default attempt limit, ten reach the database and argon2 (at its production cost)
    # together; the rest are refused at once (429) without a password check.
    served = serve()
    with served.session() as session:
        account = make_account(session)
        user, _password = make_user(session, account)
        _key_row, key = make_api_key(session, account)
        actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
        group_id = create_group(session, actor, name="Alla", description="", now=now()).id
        email = user.email
    stop, health = threading.Event(), []  # type: ignore[var-annotated]
    watcher = threading.Thread(target=health_during, args=(served, stop, health))
    watcher.start()
    try:
        def wrong_login(index: int) -> tuple[int, float]:
            with httpx.Client(base_url=served.url, timeout=ANSWER_WITHIN * 2) as client:
                token = login_form(client)
                return timed(lambda: client.post("/login", data={"email": email, "password": f"fel-{index}", "_csrf_token": token}))

        logins = in_parallel(CLIENTS, wrong_login)
        check_answers(logins, {401, 429, 503})
        assert Counter(status for status, _ in logins)[401] == served.settings.login_attempts_per_minute

        def rename(index: int) -> tuple[int, float]:
            with httpx.Client(base_url=served.url, timeout=ANSWER_WITHIN * 2, headers={"Authorization": f"Bearer {key}"}) as client:
                return timed(lambda: client.patch(f"/api/v1/groups/{group_id}", json={"name": f"Grupp {index}"}))

        check_answers(in_parallel(CLIENTS, rename), {200, 503})
    finally:
        stop.set()
        watcher.join()
    assert health and all(status == 200 for status, _ in health), Counter(status for status, _ in health)
    assert max(seconds for _, seconds in health) < ANSWER_WITHIN
    # Afterwards it serves as usual.
    with httpx.Client(base_url=served.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
        assert client.get(f"/api/v1/groups/{group_id}/members").status_code == 200
        assert client.patch(f"/api/v1/groups/{group_id}", json={"name": "Efteråt"}).status_code == 200


def test_login_attempts_are_limited_per_address_without_telling_who_exists(serve: Callable[..., Served]) -> None:
    served = serve(login_attempts_per_minute=3)
    with served.session() as session:
        user, _password = make_user(session, make_account(session))
    with httpx.Client(base_url=served.url, timeout=10) as client:
        token = login_form(client)
        answers = [client.post("/login", data={"email": user.email, "password": "fel-lösen-123", "_csrf_token": token}) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
        assert int(answers[3].headers["Retry-After"]) > 0
        unknown = client.post("/login", data={"email": "ingen@example.se", "password": "fel-lösen-123", "_csrf_token": token})
    assert unknown.status_code == 429
    # The same words whether the address has a login or not.
    message = re.compile(r'class="error"[^>]*>(.*?)<', re.S)
    assert message.search(answers[3].text) and message.search(unknown.text)
    assert re.sub(r"\d+", "N", message.search(answers[3].text).group(1)) == re.sub(r"\d+", "N", message.search(unknown.text).group(1))  # type: ignore[union-attr]


def test_login_limiter_counts_per_email_across_addresses_and_forgives_success() -> None:
    limiter = LoginLimiter(per_minute=3)
    assert [limiter.attempt(f"10.0.0.{n}", "Anna@Example.se") for n in range(3)] == [None, None, None]
    assert limiter.attempt("10.0.0.9", "anna@example.se") is not None  # the same address, other case
    assert limiter.attempt("10.0.0.9", "bo@example.se") is None  # another e-mail address from there
    limiter = LoginLimiter(per_minute=2)
    for _ in range(5):
        assert limiter.attempt("10.0.0.1", "anna@example.se") is None
        limiter.succeeded("10.0.0.1", "anna@example.se")


def test_32_api_clients_at_once_each_sms_reaches_the_smsc_once(serve: Callable[..., Served], smsc, backend: str) -> None:  # noqa: F811
    served = serve(**worker_to(smsc))
    with served.session() as session:
        account = make_account(session)
        _key_row, key = make_api_key(session, account)
        if backend == "postgresql":
            # An account from before keys were made with it: its first requests create them.
            session.execute(delete(AccountKey).where(AccountKey.account_id == account.id))
    per_client = 4
    numbers = [f"+4670{index:07d}" for index in range(CLIENTS * per_client)]

    def client_sends(index: int) -> list[int]:
        with httpx.Client(base_url=served.url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
            return [
                client.post("/api/v1/messages", json={"from": "Kommunen", "to": [number], "text": f"Kod {number[-7:]}"}).status_code
                for number in numbers[index * per_client : (index + 1) * per_client]
            ]

    answers = Counter(status for statuses in in_parallel(CLIENTS, client_sends) for status in statuses)
    assert answers == {201: len(numbers)}, answers
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(smsc.accepted()) < len(numbers):
        time.sleep(0.05)
    time.sleep(1)  # anything more that would arrive
    received = Counter(entry["destination_addr"] for entry in smsc.accepted())
    assert set(received) == {number[1:] for number in numbers} or set(received) == set(numbers), sorted(received)[:3]
    assert max(received.values()) == 1, [number for number, count in received.items() if count > 1][:5]


def destinations(smsc: Smsc) -> Counter[str]:  # noqa: F811
    return Counter(entry["destination_addr"].lstrip("+") for entry in smsc.accepted())


@pytest.mark.parametrize("path", ["combined", "create_dispatch"])
def test_a_request_that_fails_late_commits_nothing_and_its_retry_sends_once(
    serve: Callable[..., Served], smsc, monkeypatch: pytest.MonkeyPatch, path: str  # noqa: F811
) -> None:
    """``create_dispatch`` (the combiner off): a send with an Idempotency-Key fails after writing
    its audit event; the retry and its replay name one dispatch. ``combined``: a plain send goes
    to the send combiner, whose batch fails after writing everything, and so does the request's
    own fallback (``create_dispatch``): 500, nothing committed; the retry is combined. A batch
    that alone fails is answered by the fallback, which sends once."""
    combined = path == "combined"
    served = serve(combine_sends=combined, **worker_to(smsc))
    assert ("send_combiner" in served.app.state) is combined
    with served.session() as session:
        account = make_account(session)
        _key_row, key = make_api_key(session, account)
    body = {"from": "Kommunen", "to": ["+46701112233"], "text": "Påminnelse: tandläkaren i morgon 09.00"}
    headers = {"Authorization": f"Bearer {key}"} | ({} if combined else {"Idempotency-Key": "reminder-1"})

    def stored() -> tuple[int, int]:
        with served.session() as session:
            return (
                session.execute(select(func.count()).select_from(Dispatch)).scalar_one(),
                session.execute(select(func.count()).select_from(OutboundMessage)).scalar_one(),
            )

    with httpx.Client(base_url=served.url, timeout=30, headers=headers) as client:
        with monkeypatch.context() as faults:
            faults.setattr(dispatch_module, "record_event", fails_after(dispatch_module.record_event))
            faults.setattr(combine_module, "record_events", fails_after(combine_module.record_events))
            failed = client.post("/api/v1/messages", json=body)
            assert failed.status_code == 500, failed.text
            time.sleep(2)  # the worker had time to send anything that was committed
            assert smsc.accepted() == []
            assert stored() == (0, 0)
        first = client.post("/api/v1/messages", json=body)
        assert first.status_code == 201, first.text
        if combined:
            assert served.app.state["send_combiner"].sends == 1  # the retry was combined
            with monkeypatch.context() as faults:  # its batch fails, the request's fallback writes it
                faults.setattr(combine_module, "record_events", fails_after(combine_module.record_events))
                other = client.post("/api/v1/messages", json=body | {"to": ["+46701112234"]})
            assert other.status_code == 201 and other.json()["accepted"] == 1, other.text
            assert served.app.state["send_combiner"].sends == 1
            assert stored() == (2, 2)
        else:
            again = client.post("/api/v1/messages", json=body)
            assert again.status_code in (200, 201)
            assert again.json()["dispatch_id"] == first.json()["dispatch_id"]
            assert stored() == (1, 1)
    expected = Counter(["46701112233", "46701112234"] if combined else ["46701112233"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(destinations(smsc).values()) < sum(expected.values()):
        time.sleep(0.05)
    time.sleep(1)
    assert destinations(smsc) == expected


def test_health_and_reads_are_served_while_a_writer_holds_the_database(serve: Callable[..., Served], backend: str) -> None:
    served = serve()
    with served.session() as session:
        account = make_account(session)
        _key_row, key = make_api_key(session, account)
    engine = make_engine(served.settings.resolved_database_url)
    try:
        with engine.begin() as connection:  # a long write transaction of another thread
            connection.execute(Account.__table__.update().where(Account.__table__.c.id == account.id).values(name=account.name))
            with httpx.Client(base_url=served.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
                started = time.monotonic()
                assert client.get("/health").status_code == 200
                assert client.get("/api/v1/me").status_code == 200
                assert time.monotonic() - started < 2
    finally:
        engine.dispose()


def test_one_idempotency_key_sent_by_many_clients_at_once_makes_one_dispatch(serve: Callable[..., Served]) -> None:
    served = serve()
    with served.session() as session:
        _key_row, key = make_api_key(session, make_account(session))
    body = {"from": "Kommunen", "to": ["+46701112244"], "text": "Din kod är 1234"}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "code-42"}

    def send(_index: int) -> tuple[int, int | None]:
        with httpx.Client(base_url=served.url, timeout=10, headers=headers) as client:
            answer = client.post("/api/v1/messages", json=body)
            return answer.status_code, answer.json().get("dispatch_id")

    answers = in_parallel(8, send)
    assert {status for status, _ in answers} == {201}, answers
    assert len({dispatch_id for _, dispatch_id in answers}) == 1
    with served.session() as session:
        assert session.execute(select(func.count()).select_from(OutboundMessage)).scalar_one() == 1


def test_a_request_that_waits_too_long_for_a_lock_gets_503_and_writes_nothing(serve: Callable[..., Served]) -> None:
    served = serve(db_lock_timeout_ms=500)
    with served.session() as session:
        account = make_account(session)
        _key_row, key = make_api_key(session, account)
        group = create_group(session, Actor.system(account.id, account.name), name="Före", description="", now=now())  # type: ignore[arg-type]
    groups = ContactGroup.__table__
    engine = make_engine(served.settings.resolved_database_url)
    try:
        with httpx.Client(base_url=served.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
            with engine.begin() as holder:  # another transaction holds the group's row (and on SQLite the write turn)
                holder.execute(groups.update().where(groups.c.id == group.id).values(name_index=groups.c.name_index))
                started = time.monotonic()
                refused = client.patch(f"/api/v1/groups/{group.id}", json={"name": "Under låset"})
                waited = time.monotonic() - started
                assert client.get("/health").status_code == 200
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "2" and refused.json()["error"] == "busy"
            assert waited < 3
            assert client.get(f"/api/v1/groups/{group.id}/members").status_code == 200
            assert client.patch(f"/api/v1/groups/{group.id}", json={"name": "Efter"}).status_code == 200
        with served.session() as session:
            names = [summary.group.name for summary in list_groups(session, Actor.system(account.id, account.name))]  # type: ignore[arg-type]
        assert names == ["Efter"]
    finally:
        engine.dispose()


def test_a_lockout_reads_the_same_whether_the_address_has_a_login_or_not(serve: Callable[..., Served]) -> None:
    served = serve(login_attempts_per_minute=100)
    with served.session() as session:
        user, _password = make_user(session, make_account(session))
    message = re.compile(r'class="error"[^>]*>(.*?)<', re.S)
    answers = {}
    with httpx.Client(base_url=served.url, timeout=10) as client:
        token = login_form(client)
        for email in (user.email, "ingen-alls@example.se"):
            seen = []
            for _ in range(served.settings.login_max_failures + 1):
                answer = client.post("/login", data={"email": email, "password": "fel-lösen-123", "_csrf_token": token})
                assert answer.status_code == 401
                seen.append(re.sub(r"\d+", "N", message.search(answer.text).group(1)))  # type: ignore[union-attr]
            answers[email] = seen
    assert answers[user.email] == answers["ingen-alls@example.se"]
    assert answers[user.email][0] != answers[user.email][-1]  # the first says "wrong", the last "locked"


def test_reads_never_queue_behind_a_writer_and_a_stale_audited_read_runs_again(
    serve: Callable[..., Served], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govsms.audit.models import AuditEvent
    from govsms.contacts import service as contacts_service

    served = serve(db_lock_timeout_ms=3000)
    with served.session() as session:
        account = make_account(session)
        _key_row, key = make_api_key(session, account)
        actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
        contact = contacts_service.create_contact(session, actor, number="0701234567", name="Åsa Öst", note="", group_ids=[], now=now())
        dispatch_id = dispatch_module.create_dispatch(
            session, actor, dispatch_module.DispatchRequest(sender="Kommunen", text="Hej", numbers=["0701234567"]), public_url="http://x", now=now()
        ).dispatch_id
    engine = make_engine(served.settings.resolved_database_url)
    events = AuditEvent.__table__
    try:
        with httpx.Client(base_url=served.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
            client.get("/api/v1/me")  # the key is resolved (and its last use written) before the writer starts
            with engine.begin() as holder:  # another writer holds the database (on SQLite: the write turn)
                holder.execute(events.select().limit(1))
                holder.execute(Account.__table__.update().where(Account.__table__.c.id == account.id).values(name=account.name))
                started = time.monotonic()
                status = client.get(f"/api/v1/dispatches/{dispatch_id}")  # a read that writes nothing
                assert status.status_code == 200 and time.monotonic() - started < 1
            # An audited read: another writer commits between its read and its audit event.
            original = contacts_service.record_event
            interfered: list[bool] = []

            def commit_elsewhere_first(*args: Any, **kwargs: Any) -> Any:
                if not interfered:
                    interfered.append(True)
                    with engine.begin() as other:
                        other.execute(Account.__table__.update().where(Account.__table__.c.id == account.id).values(name=account.name))
                return original(*args, **kwargs)

            monkeypatch.setattr(contacts_service, "record_event", commit_elsewhere_first)
            viewed = client.get(f"/api/v1/contacts/{contact.id}")
        assert viewed.status_code == 200, viewed.text
        with served.session() as session:
            logged = session.execute(
                select(func.count()).select_from(events).where(events.c.action == "contact.viewed", events.c.target_id == str(contact.id))
            ).scalar_one()
        assert logged == 1  # the read that ran twice left one event
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", ["combined", "create_dispatch"])
def test_a_commit_that_loses_the_database_says_the_outcome_is_unknown(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """``create_dispatch`` (the combiner off): the handler thread's commit is lost. ``combined``:
    the send combiner's commit is lost (every thread's but the test's and the handlers')."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session as SqlModelSession

    combined = path == "combined"
    served = serve(combine_sends=combined)
    with served.session() as session:
        _key_row, key = make_api_key(session, make_account(session))
    original = SqlModelSession.commit

    def loses(thread: threading.Thread) -> bool:
        in_handler = thread.name.startswith("handler")
        if combined:
            return not in_handler and thread is not threading.main_thread()
        return in_handler

    def lose_connection(self: Any) -> None:
        if loses(threading.current_thread()):
            raise OperationalError("COMMIT", None, Exception("server closed the connection unexpectedly"))
        original(self)

    with httpx.Client(base_url=served.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
        assert client.get("/api/v1/me").status_code == 200  # the key's last use is written before
        monkeypatch.setattr(SqlModelSession, "commit", lose_connection)
        answer = client.post("/api/v1/messages", json={"from": "Kommunen", "to": ["+46701112255"], "text": "Hej"})
    assert answer.status_code == 500 and answer.json()["error"] == "outcome_unknown" and "Retry-After" not in answer.headers
    if combined:
        assert served.app.state["send_combiner"].sends == 0
    else:  # a combined send had no Idempotency-Key to repeat
        assert "Idempotency-Key" in answer.json()["message"]
