"""API sends written together by the send combiner (``govsms/sending/combine.py``), against the app
served for real on both backends: many clients at once, the same answers and rows as a dispatch
written on its own, the fallbacks' answers unchanged, accounts kept apart, a failed or busy batch,
and every SMS reaching the SMSC once. Only the combiner's public face is used: HTTP, its counters
(``app.state["send_combiner"]``), ``Settings.combine_sends`` and, for faults, the
``record_events`` it calls."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.chain import GAP_GRACE, Verification, seal_and_witness, verify_database
from govsms.audit.models import AuditEvent, AuditEventSubject
from govsms.audit.record import mac_key
from govsms.audit.service import public_key
from govsms.audit.witness import read_witness
from govsms.contacts.groups import create_group
from govsms.contacts.service import create_contact
from govsms.keys.crypto import unseal_field
from govsms.db import DatabaseBusy, make_engine
from govsms.keys.store import DATA_PURPOSE, AccountKey, SubjectKey, vault_of
from govsms.sending import combine as combine_module
from govsms.sending.blocklist import block_number
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, Dispatch, OutboundMessage
from govsms.sending.text import decode_part
from tests.factories import make_account, make_api_key, now, system
from tests.served import Served, backend, fails_after, in_parallel, serve, worker_to  # noqa: F401
from tests.smsc.fixture import Smsc, smsc  # noqa: F401
from tests.web_helpers import CSRF_INPUT

DISPATCHES, MESSAGES, EVENTS, LINKS, SUBJECTS = (
    Dispatch.__table__, OutboundMessage.__table__, AuditEvent.__table__, AuditEventSubject.__table__, SubjectKey.__table__,
)
CREATED = Action.DISPATCH_CREATED.value
ACCOUNT_NAME = "Kommunen i Åre"
TOKEN = re.compile(r"[A-Za-z0-9_-]{12}")
WHEN_COMPARED = {
    "id", "created_at", "send_at", "text_ct", "sender_ct", "idempotency_key", "request_hash", "dispatch_id", "subject_id", "recipient_ct",
    "optout_token", "due_at",
}
"""Columns that differ between two databases given the same requests: ids, the moment of writing,
ciphertexts, HMACs under each database's own keys and random tokens (compared by what they hold,
or whether they are there, instead)."""


# -- helpers -------------------------------------------------------------------------------------


def combiner(served: Served) -> Any:
    return served.app.state["send_combiner"]


def account_with_key(served: Served, name: str | None = None) -> tuple[int, str, str]:
    """A new account and an API key of it: (account id, the key, the key's actor label)."""
    with served.session() as session:
        account = make_account(session, **({"name": name} if name else {}))
        key_row, key = make_api_key(session, account)
        return account.id, key, f"api_key:{key_row.id}"  # type: ignore[return-value]


def api(served: Served, key: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=served.url, timeout=30, headers={"Authorization": f"Bearer {key}", **headers})


def send_together(served: Served, key: str, bodies: list[dict[str, Any]], *, clients: int) -> list[httpx.Response]:
    """POST every body to /api/v1/messages from ``clients`` clients released together (each sends
    its share one after the other); the answers in the order of ``bodies``."""

    def share(index: int) -> list[httpx.Response]:
        with api(served, key) as client:
            return [client.post("/api/v1/messages", json=body) for body in bodies[index::clients]]

    shares = in_parallel(clients, share)
    answers: list[httpx.Response] = [None] * len(bodies)  # type: ignore[list-item]
    for index, answered in enumerate(shares):
        answers[index::clients] = answered
    return answers


def one_number_sends(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Plain sends of a code to one number each; the text names the number, so a text that went
    to the wrong dispatch shows."""
    return [{"from": "Kommunen", "to": [f"+4670{index:07d}"], "text": f"Kod {index:07d}"} for index in range(start, start + count)]


def count(session: Session, table: Any, *where: Any) -> int:
    return session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()  # type: ignore[no-any-return]


def written(session: Session, dispatch_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Each dispatch as stored: its row with its text opened, its messages with their recipients
    opened, its dispatch.created events with their subject links."""
    ids = list(dispatch_ids)
    vault = vault_of(session)
    found: dict[int, dict[str, Any]] = {}
    for row in session.execute(select(DISPATCHES).where(DISPATCHES.c.id.in_(ids))).mappings():
        key = vault.account_key(session, row["account_id"], DATA_PURPOSE, now=now())
        text = unseal_field(key, DISPATCH_TEXT, row["account_id"], row["id"], row["text_ct"]).decode()
        found[row["id"]] = {"row": dict(row), "text": text, "messages": [], "events": []}
    messages = session.execute(select(MESSAGES).where(MESSAGES.c.dispatch_id.in_(ids)).order_by(MESSAGES.c.id)).mappings().all()
    subject_ids = {message["subject_id"] for message in messages}
    owners = dict(session.execute(select(SUBJECTS.c.id, SUBJECTS.c.account_id).where(SUBJECTS.c.id.in_(subject_ids))).all())
    for account_id in {message["account_id"] for message in messages}:
        of_account = [message for message in messages if message["account_id"] == account_id]
        subjects = vault.subjects_by_id(session, account_id, {message["subject_id"] for message in of_account})
        for message in of_account:
            subject = subjects[message["subject_id"]]
            found[message["dispatch_id"]]["messages"].append({
                **message, "recipient": subject.unseal(MESSAGE_RECIPIENT, message["recipient_ct"]),
                "subject_account": owners[message["subject_id"]],
            })
    events = session.execute(
        select(EVENTS).where(
            EVENTS.c.action == CREATED, EVENTS.c.target_type == "dispatch", EVENTS.c.target_id.in_([str(dispatch_id) for dispatch_id in ids])
        )
    ).mappings().all()
    links: dict[int, list[int]] = {}
    seqs = [event["seq"] for event in events]
    for seq, subject_id in session.execute(select(LINKS.c.seq, LINKS.c.subject_id).where(LINKS.c.seq.in_(seqs))):
        links.setdefault(seq, []).append(subject_id)
    for event in events:
        found[int(event["target_id"])]["events"].append({
            **event, "details": json.loads(event["details"]), "subject_ids": json.loads(event["subject_ids"]),
            "links": sorted(links.get(event["seq"], [])),
        })
    return found


def check_written(stored: dict[str, Any], *, numbers: list[str], text: str, actor: str, account_id: int, request_id: str | None = None) -> None:
    """One dispatch as a plain send of ``text`` to ``numbers`` (E.164, each once) must be stored:
    its messages, one per number, and one dispatch.created event naming their subjects."""
    row, messages, events = stored["row"], stored["messages"], stored["events"]
    assert row["account_id"] == account_id and row["created_by"] == actor and row["accepted"] == len(numbers)
    assert stored["text"] == text
    assert sorted(message["recipient"] for message in messages) == sorted(numbers)
    assert all(message["account_id"] == account_id == message["subject_account"] for message in messages)
    assert len(events) == 1, events
    event = events[0]
    subject_ids = sorted(message["subject_id"] for message in messages)
    assert event["subject_ids"] == subject_ids and event["links"] == subject_ids
    assert event["details"] == {"accepted": len(numbers), "blocked": 0, "invalid": 0, "parts": row["parts"]}
    assert event["actor"] == actor and event["account_id"] == account_id
    if request_id is not None:
        assert event["request_id"] == request_id


def comparable(stored: dict[str, Any], *, scheduled: bool) -> dict[str, Any]:
    """What two databases given the same request must hold alike."""
    kept = WHEN_COMPARED - ({"send_at", "due_at"} if scheduled else set())
    return {
        "dispatch": {name: value for name, value in stored["row"].items() if name not in kept}
        | {"keyed": (stored["row"]["idempotency_key"] is not None, stored["row"]["request_hash"] is not None)},
        "text": stored["text"],
        "messages": sorted(
            (
                {name: value for name, value in message.items() if name not in kept} | {"has_token": message["optout_token"] is not None}
                for message in stored["messages"]
            ),
            key=lambda message: message["recipient"],
        ),
        "events": [
            {name: event[name] for name in ("account_id", "actor", "action", "target_type", "details")} | {"subjects": len(event["subject_ids"])}
            for event in stored["events"]
        ],
    }


def answer_json(answer: httpx.Response) -> dict[str, Any]:
    """The answer's body without what differs between two databases or two moments: the dispatch
    id, the request id and an immediate send's moment (a scheduled one's is compared)."""
    body = dict(answer.json())
    body.pop("dispatch_id", None)
    body.pop("request_id", None)
    if body.get("status") == "queued":
        moment = datetime.fromisoformat(body.pop("send_at"))
        assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)
    return body


def sealed_and_verified(served: Served) -> Verification:
    """Seal as the worker would a while later (a rolled-back insert leaves a gap in PostgreSQL's
    sequence, sealed over once old enough), then verify the chain, MACs, index and witness."""
    keys = served.app.state["key_ring"]
    witness = served.settings.audit_witness_file
    seal_and_witness(served.factory, keys.audit_signing_seed, witness, now=now() + 2 * GAP_GRACE)
    with served.session() as session:
        return verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed), witness=read_witness(witness))


def all_dispatch_ids(served: Served, account_id: int) -> list[int]:
    with served.session() as session:
        return list(session.execute(select(DISPATCHES.c.id).where(DISPATCHES.c.account_id == account_id).order_by(DISPATCHES.c.id)).scalars())


# -- many clients at once ------------------------------------------------------------------------


def test_many_one_number_sends_at_once_are_combined_and_stored_as_if_sent_one_by_one(serve: Callable[..., Served]) -> None:
    served = serve()
    account_id, key, actor = account_with_key(served)
    bodies = one_number_sends(80)
    # A few people get a second SMS at the same moment (often in the same batch): still one person each.
    bodies += [{"from": "Kommunen", "to": body["to"], "text": f"Ny kod till {index}"} for index, body in enumerate(bodies[:16])]
    numbers = Counter(body["to"][0] for body in bodies)
    answers = send_together(served, key, bodies, clients=32)

    assert Counter(answer.status_code for answer in answers) == {201: len(bodies)}, [a.text for a in answers if a.status_code != 201][:3]
    assert {json.dumps(answer_json(answer), sort_keys=True) for answer in answers} == {json.dumps({
        "accepted": 1, "blocked": 0, "invalid": [], "parts": 1, "encoding": "gsm7", "cost": {"amount": 45, "currency": "SEK", "unit": "minor"},
        "status": "queued", "replies_possible": False, "warnings": [],
    }, sort_keys=True)}
    assert combiner(served).sends == len(bodies)
    assert combiner(served).batches < len(bodies), "no batch held more than one send"
    dispatch_ids = [answer.json()["dispatch_id"] for answer in answers]
    assert len(set(dispatch_ids)) == len(bodies) and all_dispatch_ids(served, account_id) == sorted(dispatch_ids)
    with served.session() as session:
        stored = written(session, dispatch_ids)
        assert count(session, MESSAGES) == len(bodies) and count(session, EVENTS, EVENTS.c.action == CREATED) == len(bodies)
        assert count(session, SUBJECTS, SUBJECTS.c.account_id == account_id) == len(numbers)
    for body, answer, dispatch_id in zip(bodies, answers, dispatch_ids, strict=True):
        assert len(stored[dispatch_id]["messages"]) == 1
        check_written(
            stored[dispatch_id], numbers=body["to"], text=body["text"], actor=actor, account_id=account_id,
            request_id=answer.headers["X-Request-ID"],
        )
    person = {entry["messages"][0]["recipient"]: entry["messages"][0]["subject_id"] for entry in stored.values()}
    assert all(stored[dispatch_id]["messages"][0]["subject_id"] == person[body["to"][0]] for body, dispatch_id in zip(bodies, dispatch_ids, strict=True))

    # What the API shows of them: the dispatch, and the messages found by their number.
    with api(served, key) as client:
        for body, dispatch_id in list(zip(bodies, dispatch_ids, strict=True))[::19]:
            shown = client.get(f"/api/v1/dispatches/{dispatch_id}")
            assert shown.status_code == 200 and shown.json()["messages"] == {"queued": 1} and shown.json()["accepted"] == 1
            found = client.post("/api/v1/messages/search", json={"number": body["to"][0], "reveal": True}).json()
            assert [item["to"] for item in found["items"]] == body["to"] * numbers[body["to"][0]] and found["total"] == numbers[body["to"][0]]

    verification = sealed_and_verified(served)
    assert verification.ok, verification.problems
    assert verification.unsealed == 0 and verification.events >= len(bodies)


# -- the same requests, combined or not ------------------------------------------------------------


def equivalence_requests() -> list[dict[str, Any]]:
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    return [
        {"from": "Kommunen", "to": ["0701230001", "0701230002"], "text": "Vattnet stängs av i dag kl 13. Stopp: _BLOCKSMSLINK_"},
        {"from": "Kommunen", "to": ["0701230003"], "text": "Lång påminnelse: " + "tid hos tandläkaren " * 9},
        {"from": "Kommunen", "to": ["0701230004"], "text": "Привет! Напоминание о встрече 😀"},
        {"from": "72323", "to": ["+46701230005", "+4791234567", "+4520123456"], "text": "Svara JA eller NEJ"},
        {"from": "Kommunen", "to": ["0701230006"], "text": "Påminnelse om mötet", "send_at": later.isoformat()},
        {"from": "Kommunen", "to": ["0701230007", "+46 70 123 00 07", "070-123 00 08"], "text": "Två mottagare, en av dem två gånger"},
        {"from": "1963", "to": ["0701230001"], "text": "Samma nummer igen, ½ pris. Stopp: _BLOCKSMSLINK_"},
    ]


def test_combined_sends_answer_and_store_what_sends_written_one_by_one_do(serve: Callable[..., Served]) -> None:
    requests = equivalence_requests()
    results = {}
    for combined in (True, False):  # the same requests, at once, to an app that combines and one that does not
        served = serve(combine_sends=combined)
        assert ("send_combiner" in served.app.state) is combined
        _account_id, key, _actor = account_with_key(served, ACCOUNT_NAME)
        answers = send_together(served, key, requests, clients=len(requests))
        assert [answer.status_code for answer in answers] == [201] * len(requests), [answer.text for answer in answers]
        with served.session() as session:
            stored = written(session, [answer.json()["dispatch_id"] for answer in answers])
        results[combined] = (served, key, answers, [stored[answer.json()["dispatch_id"]] for answer in answers])
    served, key, answers, by_request = results[True]
    _alone, _key, old_answers, old_by_request = results[False]
    assert combiner(served).sends == len(requests)
    for request, answer, old_answer, stored, old_stored in zip(requests, answers, old_answers, by_request, old_by_request, strict=True):
        scheduled = "send_at" in request
        assert answer_json(answer) == answer_json(old_answer), request
        assert comparable(stored, scheduled=scheduled) == comparable(old_stored, scheduled=scheduled), request

    # What the requests asked for (alike above, so checked on the combined side only).
    optout, long, ucs2, reply, later, duplicate, again = by_request
    assert long["row"]["parts"] == 2 and long["row"]["encoding"] == "gsm7"
    assert ucs2["row"]["encoding"] == "ucs2" and again["row"]["encoding"] == "ucs2"
    assert {message["recipient"]: (message["sender"], message["sender_kind"], message["country"]) for message in reply["messages"]} == {
        "+46701230005": ("72323", "short_code", "SE"), "+4791234567": ("1963", "short_code", "NO"), "+4520123456": ("4560991000", "number", "DK"),
    }
    assert reply["row"]["sender"] == again["row"]["sender"] == "72323" and answers[3].json()["replies_possible"] is True
    assert later["row"]["status"] == "scheduled" and answers[4].json()["status"] == "scheduled"
    assert later["row"]["send_at"] == datetime.fromisoformat(requests[4]["send_at"]) == later["messages"][0]["due_at"]
    assert [message["recipient"] for message in duplicate["messages"]] == ["+46701230007", "+46701230008"]
    assert answers[5].json()["accepted"] == 2 and answers[5].json()["invalid"] == []
    # One person, one subject, whichever request named them first.
    assert optout["messages"][0]["subject_id"] == again["messages"][0]["subject_id"]
    tokens = [message["optout_token"] for message in optout["messages"] + again["messages"]]
    assert all(TOKEN.fullmatch(token) for token in tokens) and len(set(tokens)) == len(tokens)
    assert all(message["optout_token"] is None for entry in (long, ucs2, reply, later, duplicate) for message in entry["messages"])

    # The opt-out link works: the page names the account, the button blocks the number, and the
    # next send to it is refused for that number.
    second = next(message for message in optout["messages"] if message["recipient"] == "+46701230002")
    with httpx.Client(base_url=served.url, timeout=30) as browser:
        page = browser.get(f"/u/{second['optout_token']}")
        assert page.status_code == 200 and ACCOUNT_NAME in page.text
        csrf = CSRF_INPUT.search(browser.get("/login").text).group(1)  # type: ignore[union-attr]
        assert browser.post(f"/u/{second['optout_token']}", data={"_csrf_token": csrf}).status_code == 200
    with api(served, key) as client:
        assert client.post("/api/v1/blocklist/search", json={"number": "0701230002"}).json()["blocked"] is True
        sent = client.post("/api/v1/messages", json={"from": "Kommunen", "to": ["0701230002", "0701230009"], "text": "Hej igen"})
    assert sent.status_code == 201 and (sent.json()["accepted"], sent.json()["blocked"]) == (1, 1)
    assert combiner(served).sends == len(requests)  # a blocked number: written by create_dispatch


# -- the fallbacks -------------------------------------------------------------------------------


def fallback_requests(group_id: int) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """(body, headers) of sends the combiner must leave to ``create_dispatch``."""
    plain = {"from": "Kommunen", "text": "Hej"}
    return [
        (plain | {"to": ["0701239999"]}, {}),  # every number blocked: 422, its event recorded
        (plain | {"to": ["0701239999", "0701230050"]}, {}),  # one of two blocked
        (plain | {"to": ["0701230051", "12345"]}, {}),  # an invalid number
        (plain | {"to": ["12345"]}, {}),  # only an invalid number: 422
        (plain | {"to": ["+33612345678", "0701230052"]}, {}),  # a country without a price
        (plain | {"to": ["+33612345678"]}, {}),  # only that: 422
        (plain | {"to": [], "group_ids": [group_id]}, {}),
        (plain | {"to": ["0701230053"], "group_ids": [group_id]}, {}),
        (plain | {"to": ["0701230054"]}, {"Idempotency-Key": "kod-1"}),
        (plain | {"to": ["0701230054"]}, {"Idempotency-Key": "kod-1"}),  # the replay
        (plain | {"to": ["0701230055"]}, {"Idempotency-Key": "kod-1"}),  # another request, the same key: 409
        (plain | {"to": ["0701230056", "0701239999"], "dry_run": True}, {}),
        (plain | {"from": "0701112233", "to": ["0701230057"]}, {}),  # a mobile number not verified as sender: 422
        (plain | {"to": [f"07012301{index:02d}" for index in range(11)]}, {}),  # more numbers than the combiner takes
    ]


FALLBACK_STATUSES = [422, 201, 201, 422, 201, 422, 201, 201, 201, 201, 409, 201, 422, 201]


def test_sends_the_combiner_leaves_alone_get_the_answers_they_always_got(serve: Callable[..., Served]) -> None:
    results = {}
    for combined in (True, False):
        served = serve(combine_sends=combined)
        account_id, key, _actor = account_with_key(served, ACCOUNT_NAME)
        with served.session() as session:
            actor = system(session.get(Account, account_id))  # type: ignore[arg-type]
            block_number(session, actor, "0701239999", source="api", now=now())
            group_id = create_group(session, actor, name="Alla", now=now()).id
            for number in ("0701238001", "0701238002"):
                create_contact(session, actor, number=number, name="Åsa", group_ids=[group_id], now=now())
        answers = []
        with api(served, key) as client:
            for body, headers in fallback_requests(group_id):
                answers.append(client.post("/api/v1/messages", json=body, headers=headers))
        with served.session() as session:
            recorded = [
                (row.action, json.loads(row.details), len(json.loads(row.subject_ids)))
                for row in session.execute(select(EVENTS).where(EVENTS.c.action.like("dispatch.%")).order_by(EVENTS.c.seq))
            ]
            stored = written(session, [answer.json()["dispatch_id"] for answer in answers if answer.json().get("dispatch_id")])
        results[combined] = (served, answers, recorded, stored)

    served, answers, recorded, stored = results[True]
    _alone, old_answers, old_recorded, old_stored = results[False]
    assert [answer.status_code for answer in answers] == FALLBACK_STATUSES, [answer.text for answer in answers]
    assert [answer.status_code for answer in old_answers] == FALLBACK_STATUSES
    for answer, old in zip(answers, old_answers, strict=True):
        assert answer_json(answer) == answer_json(old)
    assert recorded == old_recorded
    for answer, old in zip(answers, old_answers, strict=True):
        if answer.json().get("dispatch_id"):
            assert comparable(stored[answer.json()["dispatch_id"]], scheduled=False) == comparable(
                old_stored[old.json()["dispatch_id"]], scheduled=False
            )
    assert combiner(served).sends == 0

    # The answers themselves (alike above, so checked on the combined side only).
    body = [answer.json() for answer in answers]
    assert body[0]["fields"]["to"] and recorded[0][:2] == ("dispatch.previewed", {"accepted": 0, "blocked": 1, "invalid": 0, "parts": 1})
    assert (body[1]["accepted"], body[1]["blocked"]) == (1, 1)
    assert body[2]["accepted"] == 1 and [item["input"] for item in body[2]["invalid"]] == ["12345"]
    assert body[4]["accepted"] == 1 and [item["input"] for item in body[4]["invalid"]] == ["+33612345678"]
    assert body[6]["accepted"] == 2 and body[7]["accepted"] == 3
    assert body[9]["dispatch_id"] == body[8]["dispatch_id"] and body[10]["error"] == "conflict"
    assert body[11]["dispatch_id"] is None and (body[11]["accepted"], body[11]["blocked"]) == (1, 1)
    assert set(body[12]["fields"]) == {"from"}
    assert body[13]["accepted"] == 11


# -- accounts apart ------------------------------------------------------------------------------


def test_two_accounts_sending_at_once_each_get_their_own_dispatches_and_people(serve: Callable[..., Served]) -> None:
    served = serve()
    first, second = account_with_key(served), account_with_key(served)
    # Half of the numbers are sent to by both accounts: each account has its own person for them.
    sends = {first: one_number_sends(48, start=0), second: one_number_sends(48, start=24)}

    def client_sends(index: int) -> list[tuple[tuple[int, str, str], dict[str, Any], httpx.Response]]:
        account = (first, second)[index % 2]
        with api(served, account[1]) as client:
            return [(account, body, client.post("/api/v1/messages", json=body)) for body in sends[account][index // 2 :: 16]]

    results = [result for share in in_parallel(32, client_sends) for result in share]
    assert len(results) == 96 and Counter(answer.status_code for _, _, answer in results) == {201: 96}
    assert combiner(served).sends == 96 and combiner(served).batches < 96
    with served.session() as session:
        stored = written(session, [answer.json()["dispatch_id"] for _, _, answer in results])
        people = [count(session, SUBJECTS, SUBJECTS.c.account_id == account[0]) for account in (first, second)]
    for (account_id, _key, actor), body, answer in results:
        check_written(stored[answer.json()["dispatch_id"]], numbers=body["to"], text=body["text"], actor=actor, account_id=account_id)
    assert people == [48, 48]  # one person per number and account
    person = {
        (message["account_id"], message["recipient"]): message["subject_id"] for entry in stored.values() for message in entry["messages"]
    }
    shared = [f"+4670{index:07d}" for index in range(24, 48)]
    assert all(person[first[0], number] != person[second[0], number] for number in shared)

    with api(served, first[1]) as mine, api(served, second[1]) as theirs:
        for (account_id, _key, _actor), _body, answer in results[::3]:
            dispatch_id = answer.json()["dispatch_id"]
            owner, other = (mine, theirs) if account_id == first[0] else (theirs, mine)
            assert owner.get(f"/api/v1/dispatches/{dispatch_id}").status_code == 200
            assert other.get(f"/api/v1/dispatches/{dispatch_id}").status_code == 404
        only_first = "+46700000001"
        assert mine.post("/api/v1/messages/search", json={"number": only_first}).json()["total"] == 1
        assert theirs.post("/api/v1/messages/search", json={"number": only_first}).json()["total"] == 0


# -- a batch that fails ----------------------------------------------------------------------------


def test_a_batch_that_fails_is_written_again_send_by_send_and_nothing_twice(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve()
    account_id, key, actor = account_with_key(served)
    with served.session() as session:
        # An account from before keys were made with it: the failed batch makes them first (on
        # SQLite inside its transaction, so they are rolled back with it and must be forgotten).
        session.execute(delete(AccountKey).where(AccountKey.account_id == account_id))
    bodies = one_number_sends(24)
    for body, extra in zip(bodies[::3], range(100, 108), strict=True):  # some with a second number
        body["to"].append(f"+4670{extra:07d}")
    # Everything of the batch is written, then its last statement fails: the whole batch is rolled back.
    with monkeypatch.context() as faults:
        faults.setattr(combine_module, "record_events", fails_after(combine_module.record_events))
        answers = send_together(served, key, bodies, clients=len(bodies))

    assert Counter(answer.status_code for answer in answers) == {201: len(bodies)}, [a.text for a in answers if a.status_code != 201][:3]
    assert combiner(served).sends == 0
    dispatch_ids = [answer.json()["dispatch_id"] for answer in answers]
    assert len(set(dispatch_ids)) == len(bodies) and all_dispatch_ids(served, account_id) == sorted(dispatch_ids)
    numbers = [number for body in bodies for number in body["to"]]
    with served.session() as session:
        stored = written(session, dispatch_ids)
        assert count(session, MESSAGES) == len(numbers) and count(session, EVENTS, EVENTS.c.action == CREATED) == len(bodies)
        assert count(session, SUBJECTS, SUBJECTS.c.account_id == account_id) == len(set(numbers))  # no person twice
        assert session.execute(
            select(MESSAGES.c.dispatch_id, MESSAGES.c.subject_id).group_by(MESSAGES.c.dispatch_id, MESSAGES.c.subject_id).having(func.count() > 1)
        ).all() == []
    for body, answer, dispatch_id in zip(bodies, answers, dispatch_ids, strict=True):
        assert answer.json()["accepted"] == len(body["to"])
        check_written(stored[dispatch_id], numbers=body["to"], text=body["text"], actor=actor, account_id=account_id,
                      request_id=answer.headers["X-Request-ID"])
    with api(served, key) as client:  # found by number: the blind index is the one the account kept
        for body in bodies[::5]:
            found = client.post("/api/v1/messages/search", json={"number": body["to"][-1], "reveal": True}).json()
            assert [item["to"] for item in found["items"]] == body["to"][-1:]
    verification = sealed_and_verified(served)
    assert verification.ok, verification.problems

    # The combiner goes on combining.
    after = send_together(served, key, one_number_sends(8, start=200), clients=8)
    assert [answer.status_code for answer in after] == [201] * 8 and combiner(served).sends == 8


def test_a_busy_database_during_a_batch_answers_503_and_writes_nothing(serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch) -> None:
    served = serve()
    account_id, key, _actor = account_with_key(served)

    def busy_after_writing(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise DatabaseBusy("test")

    original = combine_module.record_events
    with monkeypatch.context() as faults:
        faults.setattr(combine_module, "record_events", busy_after_writing)
        answers = send_together(served, key, one_number_sends(12), clients=12)

    assert [answer.status_code for answer in answers] == [503] * 12, [answer.text for answer in answers]
    assert all(answer.headers["Retry-After"] == "2" and answer.json()["error"] == "busy" for answer in answers)
    assert combiner(served).sends == 0
    with served.session() as session:
        assert count(session, DISPATCHES) == 0 and count(session, MESSAGES) == 0
        assert count(session, EVENTS, EVENTS.c.action == CREATED) == 0 and count(session, LINKS) == 0
        assert count(session, SUBJECTS, SUBJECTS.c.account_id == account_id) == 0
    with api(served, key) as client:
        again = client.post("/api/v1/messages", json=one_number_sends(1)[0])
    assert again.status_code == 201 and combiner(served).sends == 1


def test_a_batch_that_waits_too_long_for_the_database_gets_503_and_writes_nothing(serve: Callable[..., Served], backend: str) -> None:
    served = serve(db_lock_timeout_ms=500)
    account_id, key, _actor = account_with_key(served)
    engine = make_engine(served.settings.resolved_database_url)
    try:
        with api(served, key) as client:
            assert client.get("/api/v1/me").status_code == 200  # the key's last use is written before
            with engine.begin() as holder:  # another transaction holds what the batch needs
                if backend == "postgresql":
                    holder.exec_driver_sql("LOCK TABLE dispatch IN EXCLUSIVE MODE")
                else:  # SQLite: the write turn
                    holder.execute(Account.__table__.update().where(Account.__table__.c.id == account_id).values(name=Account.__table__.c.name))
                started = time.monotonic()
                answers = send_together(served, key, one_number_sends(6), clients=6)
                waited = time.monotonic() - started
            assert [answer.status_code for answer in answers] == [503] * 6, [answer.text for answer in answers]
            assert all(answer.headers["Retry-After"] == "2" and answer.json()["error"] == "busy" for answer in answers)
            assert waited < 3
            again = client.post("/api/v1/messages", json=one_number_sends(1, start=50)[0])
        assert again.status_code == 201 and combiner(served).sends == 1
        with served.session() as session:
            assert all_dispatch_ids(served, account_id) == [again.json()["dispatch_id"]]
            assert count(session, MESSAGES) == 1 and count(session, EVENTS, EVENTS.c.action == CREATED) == 1
    finally:
        engine.dispose()


def test_a_client_that_stops_waiting_leaves_its_send_written_whole_and_once(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve()
    account_id, key, actor = account_with_key(served)
    original = combine_module.record_events

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.5)
        return original(*args, **kwargs)

    body = one_number_sends(1)[0]
    with monkeypatch.context() as faults:
        faults.setattr(combine_module, "record_events", slow)
        with httpx.Client(base_url=served.url, timeout=0.5, headers={"Authorization": f"Bearer {key}"}) as impatient:
            with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
                impatient.post("/api/v1/messages", json=body)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and combiner(served).sends == 0:
            time.sleep(0.1)
    time.sleep(0.5)  # anything more that would be written
    assert combiner(served).sends == 1
    dispatch_ids = all_dispatch_ids(served, account_id)
    assert len(dispatch_ids) == 1
    with served.session() as session:
        check_written(written(session, dispatch_ids)[dispatch_ids[0]], numbers=body["to"], text=body["text"], actor=actor, account_id=account_id)
        assert count(session, MESSAGES) == 1
    with api(served, key) as client:
        assert client.post("/api/v1/messages", json=one_number_sends(1, start=1)[0]).status_code == 201


# -- to the SMSC -----------------------------------------------------------------------------------


def test_combined_sends_each_reach_the_smsc_once_with_their_own_text(serve: Callable[..., Served], smsc: Smsc) -> None:  # noqa: F811
    served = serve(**worker_to(smsc))
    _account_id, key, _actor = account_with_key(served)
    bodies = one_number_sends(48)
    answers = send_together(served, key, bodies, clients=24)
    assert Counter(answer.status_code for answer in answers) == {201: len(bodies)}
    assert combiner(served).sends == len(bodies) and combiner(served).batches < len(bodies)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(smsc.accepted()) < len(bodies):
        time.sleep(0.05)
    time.sleep(1)  # anything more that would arrive
    received = Counter(
        (entry["destination_addr"].lstrip("+"), entry["source_addr"], decode_part(entry["data_coding"], entry["short_message"], has_header=False))
        for entry in smsc.accepted()
    )
    assert received == Counter((body["to"][0][1:], "Kommunen", body["text"]) for body in bodies)
