"""``/operator/jobs``: the operator sees each job's last run, result and next run and the history;
a customer's admin is refused. The blocklist page shows the account's last clean-up."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.contacts.groups import add_members, create_group
from govsms.db import make_session_factory
from govsms.jobs import DONE, claim, finish
from govsms.sending import blocklist
from tests.factories import make_account, make_contact, make_user, now, system
from tests.web_helpers import login


def test_the_operator_sees_the_jobs_and_their_runs(client: TestClient, session: Session) -> None:
    provider = make_account(session, is_provider=True)
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    started = now() - timedelta(minutes=5)
    run_id = claim(session, "nightly", "2026-11-29", now=started, holder="worker-a:4242")
    assert run_id is not None
    report = {"blocklist_cleanup": {"accounts": 2, "numbers": 3, "memberships": 4, "ms": 120}}
    finish(session, run_id, status=DONE, report=report, now=started + timedelta(seconds=2))
    session.flush()
    login(client, operator.email, password)
    response = client.get("/operator/jobs")
    assert response.status_code == 200
    text = response.text
    # In Swedish, the users' default language.
    assert "Nattligt jobb" in text and "2026-11-29" in text and "worker-a:4242" in text
    assert "Varje natt kl. 03:00 (Europe/Stockholm)" in text and "2.0 s" in text
    assert "3 nummer" in text and "4 gruppmedlemskap" in text and "klar" in text
    assert client.get("/operator/jobs?page=2").status_code == 200


def test_a_customer_admin_may_not_see_the_jobs(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, password)
    assert client.get("/operator/jobs").status_code == 403


def test_the_blocklist_page_shows_the_last_clean_up_without_numbers(client: TestClient, session: Session) -> None:
    account, other = make_account(session), make_account(session)
    actor = system(account)
    number = "+46701118888"
    contact = make_contact(session, account, number=number)
    for name in ("Skolan", "Klubben"):
        add_members(session, actor, create_group(session, actor, name=name, now=now()).id, [contact.id], now=now())
    blocklist.block_number(session, actor, number, source="manual", now=now())
    session.flush()
    blocklist.clean_up_blocked(make_session_factory(session.connection(), vault=session.info["vault"]), now=now())
    admin, password = make_user(session, account, roles={Role.ADMIN, Role.SENDER})
    login(client, admin.email, password)
    text = client.get("/blocklist").text
    assert 'id="cleanup"' in text and "1 blockerat nummer togs bort" in text and "Klubben" in text and "Skolan" in text
    assert number not in text and number[3:] not in text
    client.cookies.clear()
    dpo, dpo_password = make_user(session, account, roles={Role.DPO})  # the blocklist, not the groups: their ids only
    login(client, dpo.email, dpo_password)
    shown = client.get("/blocklist").text
    assert 'id="cleanup"' in shown and "grupp " in shown and "Skolan" not in shown
    other_admin, other_password = make_user(session, other, roles={Role.ADMIN, Role.SENDER})
    client.cookies.clear()
    login(client, other_admin.email, other_password)
    assert 'id="cleanup"' not in client.get("/blocklist").text


def test_a_page_number_out_of_range_is_refused_with_its_name(client: TestClient, session: Session) -> None:
    operator, password = make_user(session, make_account(session, is_provider=True), roles={Role.OPERATOR})
    login(client, operator.email, password)
    for value in ("0", "-1", str(2**31), str(2**64), "x"):
        response = client.get("/operator/jobs", params={"page": value})
        assert response.status_code == 400 and "page" in response.text, value
