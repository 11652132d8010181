"""Legal holds on /settings/retention/holds and /api/v1/retention/holds, on both backends: the DPO
places one on a number (typed in the POST form, shown only as "a number (held)") or on the
account, ends one early after a confirmation page; an admin and a sender are refused; another
account's hold is 404; a bad date or hostile input is 422, never 500."""

from __future__ import annotations

from datetime import date, timedelta

from litestar.testing import TestClient
from sqlmodel import Session, select

from govsms.auth import Role
from govsms.keys.store import vault_of
from govsms.retention.holds import holds_in_force
from govsms.retention.models import LegalHold
from tests.factories import audit_events, make_account, make_api_key, make_user, now
from tests.web_helpers import login, post_form

NUMBER = "0701234567"
E164 = "+46701234567"


def _logged_in(client: TestClient, session: Session, role: Role):  # type: ignore[no-untyped-def]
    account = make_account(session)
    user, password = make_user(session, account, roles={role})
    login(client, user.email, password)
    return account


def _until(days: int = 30) -> str:
    return (now().date() + timedelta(days=days)).isoformat()


def test_the_dpo_places_a_hold_on_a_number_and_ends_it(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.DPO)
    settings = client.get("/settings/retention")
    assert 'href="/settings/retention/holds"' in settings.text
    empty = client.get("/settings/retention/holds")
    assert empty.status_code == 200 and "Inget bevarandebeslut gäller" in empty.text
    placed = post_form(
        client, "/settings/retention/holds", {"on": "number", "number": NUMBER, "reason": "Tvist om faktura", "until": _until()},
        token_from="/settings/retention/holds",
    )
    assert placed.status_code == 303 and placed.headers["location"] == "/settings/retention/holds?done=placed"
    assert NUMBER not in placed.headers["location"]
    hold = session.exec(select(LegalHold).where(LegalHold.account_id == account.id)).one()
    index = vault_of(session).blind_indexes(session, account.id, [E164], now=now())[E164]
    assert hold.blind_index == index and hold.reason == "Tvist om faktura"
    shown = client.get("/settings/retention/holds?done=placed")
    assert "Ett nummer (bevaras)" in shown.text and "Tvist om faktura" in shown.text and _until() in shown.text
    assert NUMBER not in shown.text and E164 not in shown.text and "0701" not in shown.text
    assert holds_in_force(session, account.id, today=now().date()).numbers == {index}
    placed_events = audit_events(session, "retention.legal_hold_added", account.id)
    assert len(placed_events) == 1 and NUMBER not in str(placed_events[0].details) and "Tvist" not in str(placed_events[0].details)

    confirm = client.get(f"/settings/retention/holds/{hold.id}/end")
    assert confirm.status_code == 200 and f'action="/settings/retention/holds/{hold.id}/end"' in confirm.text
    ended = post_form(client, f"/settings/retention/holds/{hold.id}/end", {}, token_from="/settings/retention/holds")
    assert ended.status_code == 303 and ended.headers["location"] == "/settings/retention/holds?done=ended"
    assert holds_in_force(session, account.id, today=now().date()).numbers == frozenset()
    assert len(audit_events(session, "retention.legal_hold_ended", account.id)) == 1
    assert "Inget bevarandebeslut gäller" in client.get("/settings/retention/holds").text
    assert client.get(f"/settings/retention/holds/{hold.id}/end").status_code == 404  # ended: nothing to end


def test_a_hold_on_the_whole_account(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.DPO)
    placed = post_form(
        client, "/settings/retention/holds", {"on": "account", "number": "", "reason": "Granskning", "until": _until(5)},
        token_from="/settings/retention/holds",
    )
    assert placed.status_code == 303
    assert holds_in_force(session, account.id, today=now().date()).account
    assert "Hela kontot" in client.get("/settings/retention/holds").text


def test_refused_forms_are_422_and_shown_again(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.DPO)
    yesterday = (now().date() - timedelta(days=1)).isoformat()
    for form, problem in (
        ({"on": "number", "number": NUMBER, "reason": "x", "until": ""}, "slutdatum"),
        ({"on": "number", "number": NUMBER, "reason": "x", "until": "2026-02-30"}, "ÅÅÅÅ-MM-DD"),
        ({"on": "number", "number": NUMBER, "reason": "x", "until": "２０２６-１２-０１"}, "ÅÅÅÅ-MM-DD"),
        ({"on": "number", "number": NUMBER, "reason": "x", "until": "9" * 5000}, "ÅÅÅÅ-MM-DD"),
        ({"on": "number", "number": NUMBER, "reason": "x", "until": yesterday}, "från och med i dag"),
        ({"on": "number", "number": NUMBER, "reason": "   ", "until": _until()}, "skälet"),
        ({"on": "number", "number": NUMBER, "reason": "x" * 201, "until": _until()}, "200"),
        ({"on": "number", "number": "", "reason": "x", "until": _until()}, "hela kontot"),
        ({"on": "number", "number": "abc<script>", "reason": "x", "until": _until()}, 'aria-invalid="true"'),
        ({"on": "number", "number": "\x00" * 50, "reason": "\x00<b>", "until": _until()}, 'aria-invalid="true"'),
    ):
        refused = post_form(client, "/settings/retention/holds", form, token_from="/settings/retention/holds")
        assert refused.status_code == 422, (form, refused.status_code)
        assert problem.lower() in refused.text.lower(), form
        assert "<script>" not in refused.text
    assert session.exec(select(LegalHold).where(LegalHold.account_id == account.id)).all() == []
    assert audit_events(session, "retention.legal_hold_added", account.id) == []


def test_an_admin_and_a_sender_have_no_way_to_the_holds(client: TestClient, session: Session) -> None:
    for role in (Role.ADMIN, Role.SENDER):
        other = TestClient(client.app)
        with other:
            account = _logged_in(other, session, role)
            hold = LegalHold(account_id=account.id, reason="r", until=date.today() + timedelta(days=3), created_by="dpo", created_at=now())
            session.add(hold)
            session.commit()
            assert other.get("/settings/retention/holds").status_code == 403
            assert other.get(f"/settings/retention/holds/{hold.id}/end").status_code == 403
            token_from = "/settings/retention" if role is Role.ADMIN else "/"
            assert post_form(other, "/settings/retention/holds", {"on": "account", "reason": "x", "until": _until()}, token_from=token_from).status_code == 403
            assert post_form(other, f"/settings/retention/holds/{hold.id}/end", {}, token_from=token_from).status_code == 403
            if role is Role.ADMIN:
                assert 'href="/settings/retention/holds"' not in other.get("/settings/retention").text
            assert holds_in_force(session, account.id, today=now().date()).account


def test_another_accounts_hold_is_404(client: TestClient, session: Session) -> None:
    _logged_in(client, session, Role.DPO)
    other = make_account(session)
    hold = LegalHold(account_id=other.id, reason="B:s tvist", until=now().date() + timedelta(days=3), created_by="dpo", created_at=now())
    session.add(hold)
    session.commit()
    assert "B:s tvist" not in client.get("/settings/retention/holds").text
    assert client.get(f"/settings/retention/holds/{hold.id}/end").status_code == 404
    assert post_form(client, f"/settings/retention/holds/{hold.id}/end", {}, token_from="/settings/retention/holds").status_code == 404
    assert holds_in_force(session, other.id, today=now().date()).account


def test_the_api_places_lists_and_ends_holds(client: TestClient, session: Session) -> None:
    account, other = make_account(session), make_account(session)
    _key, dpo = make_api_key(session, account, roles={Role.DPO})
    _key, admin = make_api_key(session, account, roles={Role.ADMIN})
    _key, sender = make_api_key(session, account, roles={Role.SENDER})
    _key, other_dpo = make_api_key(session, other, roles={Role.DPO})
    headers = {"Authorization": f"Bearer {dpo}"}
    assert client.get("/api/v1/retention/holds", headers=headers).json() == {"holds": []}
    placed = client.post("/api/v1/retention/holds", json={"number": NUMBER, "reason": "Tvist", "until": _until()}, headers=headers)
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["on"] == "number" and body["reason"] == "Tvist" and body["until"] == _until() and NUMBER not in placed.text
    whole = client.post("/api/v1/retention/holds", json={"reason": "Granskning", "until": _until(2)}, headers=headers)
    assert whole.status_code == 201 and whole.json()["on"] == "account"
    listed = client.get("/api/v1/retention/holds", headers=headers).json()["holds"]
    assert [hold["id"] for hold in listed] == [whole.json()["id"], body["id"]]  # soonest end first
    for key in (admin, sender):
        bearer = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/retention/holds", headers=bearer).status_code == 403
        assert client.post("/api/v1/retention/holds", json={"reason": "x", "until": _until()}, headers=bearer).status_code == 403
        assert client.delete(f"/api/v1/retention/holds/{body['id']}", headers=bearer).status_code == 403
    other_headers = {"Authorization": f"Bearer {other_dpo}"}
    assert client.get("/api/v1/retention/holds", headers=other_headers).json() == {"holds": []}
    assert client.delete(f"/api/v1/retention/holds/{body['id']}", headers=other_headers).status_code == 404
    for bad in (
        {"reason": "x", "until": "2026-13-01"}, {"reason": "x", "until": "yesterday"}, {"reason": "x"}, {"until": _until()},
        {"reason": "", "until": _until()}, {"reason": "x", "until": (now().date() - timedelta(days=1)).isoformat()},
        {"reason": "x", "until": _until(), "number": "not a number"}, {"reason": "x" * 201, "until": _until()},
        {"reason": ["x"], "until": _until()}, {"reason": "x", "until": _until(), "number": 46701234567},
    ):
        refused = client.post("/api/v1/retention/holds", json=bad, headers=headers)
        assert refused.status_code in (400, 422), (bad, refused.status_code)
    assert client.delete(f"/api/v1/retention/holds/{body['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/retention/holds/{body['id']}", headers=headers).status_code == 404  # already ended
    assert [hold["id"] for hold in client.get("/api/v1/retention/holds", headers=headers).json()["holds"]] == [whole.json()["id"]]
    assert len(audit_events(session, "retention.legal_hold_ended", account.id)) == 1
    assert len(audit_events(session, "retention.legal_hold_added", account.id)) == 2
