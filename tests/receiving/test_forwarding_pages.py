"""The /inbox/forwarding page on both backends: the admin adds, turns off and removes rules and
sees a rule's last error and next try; bad and hostile input is shown again with a clear reason;
a sender gets 403; another account's rule is 404."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Role
from govsms.clock import localtime
from govsms.db import make_session_factory
from govsms.keys.store import Vault
from govsms.receiving.forwarding import run_forwards
from govsms.receiving.forwarding_models import ForwardingRule
from govsms.sending.models import VirtualNumber
from govsms.sending.pricing import seed_default_prices
from tests.conftest import make_settings
from tests.factories import audit_events, make_account, make_user, now
from tests.receiving.forwarding_helpers import make_inbound
from tests.web_helpers import free_port, login, post_form

VIRTUAL = "+46766000123"


def _admin(client: TestClient, session: Session, number: str = VIRTUAL):  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=now())
    account = make_account(session)
    session.add(VirtualNumber(number=number, account_id=account.id, created_at=now()))
    session.flush()
    user, password = make_user(session, account, roles={Role.ADMIN})
    login(client, user.email, password)
    return account


def _rules(session: Session, account_id: int) -> list[ForwardingRule]:
    return list(session.execute(
        select(ForwardingRule).where(ForwardingRule.account_id == account_id).execution_options(populate_existing=True)
    ).scalars())


def test_the_admin_adds_turns_off_and_removes_a_rule(client: TestClient, session: Session) -> None:
    account = _admin(client, session)
    page = client.get("/inbox/forwarding")
    assert page.status_code == 200
    assert "Vidarebefordran" in page.text and 'href="/inbox/forwarding"' in page.text  # Swedish, and in the navigation
    assert f'value="virtual:{VIRTUAL}"' in page.text and 'value="reply"' in page.text and 'value="all"' in page.text
    added = post_form(client, "/inbox/forwarding", {"trigger": f"virtual:{VIRTUAL}", "emails": "kansliet@example.se", "mode": "notice",
                                                    "mobile": "0709876543"}, token_from="/inbox/forwarding")
    assert added.status_code == 303 and added.headers["location"] == "/inbox/forwarding?done=added"
    [rule] = _rules(session, account.id)
    shown = client.get("/inbox/forwarding?done=added").text
    assert "Vidarebefordringsregeln är sparad" in shown and "kansliet@example.se" in shown and "+46709876543" in shown
    assert "Endast avisering" in shown
    assert len(audit_events(session, "forwarding_rule.listed", account.id)) >= 1  # the mobile number was shown
    off = post_form(client, f"/inbox/forwarding/{rule.id}/disable", {}, token_from="/inbox/forwarding")
    assert off.status_code == 303 and not _rules(session, account.id)[0].enabled
    assert "Avstängd" in client.get("/inbox/forwarding").text
    on = post_form(client, f"/inbox/forwarding/{rule.id}/enable", {}, token_from="/inbox/forwarding")
    assert on.status_code == 303 and _rules(session, account.id)[0].enabled
    removed = post_form(client, f"/inbox/forwarding/{rule.id}/remove", {}, token_from="/inbox/forwarding")
    assert removed.status_code == 303 and _rules(session, account.id) == []
    assert "Inga sms vidarebefordras." in client.get("/inbox/forwarding?done=removed").text


def test_bad_and_hostile_input_is_shown_again_with_the_reason(client: TestClient, session: Session) -> None:
    account = _admin(client, session)
    for data, reason in [
        ({"trigger": "all", "emails": "kansliet", "mode": "full"}, "kansliet är ingen e-postadress"),
        ({"trigger": "all", "emails": "", "mode": "full"}, "Ange minst en e-postadress eller ett mobilnummer"),
        ({"trigger": "all", "emails": "", "mode": "full", "mobile": VIRTUAL}, "virtuellt nummer"),
        ({"trigger": "virtual:+46700000000", "emails": "a@example.se", "mode": "full"}, "Välj vad som ska vidarebefordras"),
        ({"trigger": "all", "emails": "<script>alert(1)</script>@x.se", "mode": "full"}, "är ingen e-postadress"),
        ({"trigger": "all", "emails": "a@example.se\x01", "mode": "full"}, "Ta bort styrtecknet"),
        ({"trigger": "all", "emails": "a@example.se", "mode": "x" * 5000}, "Välj hela texten eller endast avisering"),
        ({"trigger": ["all", "reply"], "emails": ["a@example.se", "b"], "mode": "full"}, "b är ingen e-postadress"),
    ]:
        refused = post_form(client, "/inbox/forwarding", data, token_from="/inbox/forwarding")
        assert refused.status_code == 422, (data, refused.status_code)
        assert reason in refused.text, (data, refused.text[-2000:])
        assert "<script>alert(1)</script>" not in refused.text
    assert _rules(session, account.id) == []


def test_the_rule_shows_its_last_error_and_next_try(client: TestClient, session: Session, connection: Connection, vault: Vault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    account = _admin(client, session)
    assert post_form(client, "/inbox/forwarding", {"trigger": "all", "emails": "kansliet@example.se", "mode": "full"},
                     token_from="/inbox/forwarding").status_code == 303
    when = now()
    make_inbound(session, account.id, e164="+46701234567", text="Hej", destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=when)
    down = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
    assert run_forwards(make_session_factory(connection, vault=vault), down, now=when) == 1
    page = client.get("/inbox/forwarding").text
    assert "E-postservern gick inte att nå." in page
    assert f"Nästa försök: {localtime(when + timedelta(minutes=1), '%Y-%m-%d %H:%M', None)}" in page


def test_a_sender_may_not_and_another_accounts_rule_is_not_found(client: TestClient, session: Session) -> None:
    account = _admin(client, session)
    assert post_form(client, "/inbox/forwarding", {"trigger": "all", "emails": "kansliet@example.se", "mode": "full"},
                     token_from="/inbox/forwarding").status_code == 303
    [rule] = _rules(session, account.id)
    with TestClient(client.app) as other:
        _admin(other, session, "+46766000777")  # an admin of another account
        assert post_form(other, f"/inbox/forwarding/{rule.id}/remove", {}, token_from="/inbox/forwarding").status_code == 404
        assert post_form(other, f"/inbox/forwarding/{rule.id}/disable", {}, token_from="/inbox/forwarding").status_code == 404
        assert "kansliet@example.se" not in other.get("/inbox/forwarding").text
    with TestClient(client.app) as sender:
        seed = make_account(session)
        user, password = make_user(session, seed, roles={Role.SENDER})
        login(sender, user.email, password)
        assert sender.get("/inbox/forwarding").status_code == 403
        assert 'href="/inbox/forwarding"' not in sender.get("/").text
    assert _rules(session, account.id)[0].enabled
