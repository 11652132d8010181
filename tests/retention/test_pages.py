"""The /settings/retention page and GET|PUT /api/v1/retention, on both backends: the admin and the
DPO choose the account's own storage times, a sender is refused, a refused form is shown again,
and the DPA then offers a new version."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.retention.service import storage_time_in_force
from govsms.settings import Settings
from govsms.keys.ring import KeyRing
from tests.factories import audit_events, make_account, make_api_key, make_user
from tests.web_helpers import login, post_form


def _logged_in(client: TestClient, session: Session, role: Role):  # type: ignore[no-untyped-def]
    account = make_account(session)
    user, password = make_user(session, account, roles={role})
    login(client, user.email, password)
    return account


def test_the_admin_shortens_a_storage_time(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.ADMIN)
    page = client.get("/settings/retention")
    assert page.status_code == 200
    assert 'id="days-outbound_messages"' in page.text and "Lagringstider" in page.text  # Swedish by default
    assert 'href="/settings/retention"' in page.text  # in the navigation
    saved = post_form(client, "/settings/retention", {"days-outbound_messages": "30", "days-contacts": ""}, token_from="/settings/retention")
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/retention?done=saved"
    assert storage_time_in_force(session, account.id, "outbound_messages") == 30
    assert storage_time_in_force(session, account.id, "contacts") is None
    shown = client.get("/settings/retention?done=saved")
    assert 'value="30"' in shown.text and "30 dagar" in shown.text and "Lagringstiderna är sparade" in shown.text
    assert len(audit_events(session, "retention.account_storage_time_changed", account.id)) == 1


def test_the_dpo_may_and_a_sender_may_not(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.DPO)
    assert client.get("/settings/retention").status_code == 200
    assert post_form(client, "/settings/retention", {"days-users": "7"}, token_from="/settings/retention").status_code == 303
    assert storage_time_in_force(session, account.id, "users") == 7
    other = TestClient(client.app)
    with other:
        _logged_in(other, session, Role.SENDER)
        assert other.get("/settings/retention").status_code == 403
        assert 'href="/settings/retention"' not in other.get("/").text
        refused = post_form(other, "/settings/retention", {"days-users": "1"}, token_from="/")
        assert refused.status_code == 403
    assert storage_time_in_force(session, account.id, "users") == 7


def test_a_refused_form_is_shown_again_with_each_problem(client: TestClient, session: Session) -> None:
    account = _logged_in(client, session, Role.ADMIN)
    for value, problem in (
        ("91", "från 1 till 90"), ("0", "från 1 till 90"), ("9" * 5000, "från 1 till 90"),
        ("3.5", "helt antal dagar"), ("١٢", "helt antal dagar"), ("-3", "helt antal dagar"),
    ):
        refused = post_form(
            client, "/settings/retention", {"days-outbound_messages": value, "days-users": "5"}, token_from="/settings/retention"
        )
        assert refused.status_code == 422, value
        assert problem in refused.text and 'aria-invalid="true"' in refused.text
        assert f'value="{value}"' in refused.text  # as typed
    # Nothing of a refused form is saved, not even its valid fields.
    assert storage_time_in_force(session, account.id, "users") == 30
    assert audit_events(session, "retention.account_storage_time_changed", account.id) == []
    access = post_form(client, "/settings/retention", {"days-access_log": "100"}, token_from="/settings/retention")
    assert access.status_code == 422 and "från 365 till 730" in access.text


def test_the_api_reads_and_sets_the_storage_times(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _key, admin = make_api_key(session, account, roles={Role.ADMIN})
    _key, sender = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {admin}"}
    shown = client.get("/api/v1/retention", headers=headers)
    assert shown.status_code == 200
    times = {entry["category"]: entry for entry in shown.json()["categories"]}
    assert times["outbound_messages"] == {
        "category": "outbound_messages", "label": "Skickade sms", "maximum_days": 90, "chosen_days": None, "days_in_force": 90,
        "least_days": 1, "most_days": 90,
    }
    assert times["contacts"]["maximum_days"] is None and times["contacts"]["most_days"] == 3650
    changed = client.put("/api/v1/retention", headers=headers, json={"storage_times": {"outbound_messages": 14, "contacts": 400}})
    assert changed.status_code == 200
    times = {entry["category"]: entry for entry in changed.json()["categories"]}
    assert times["outbound_messages"]["days_in_force"] == 14 and times["contacts"]["days_in_force"] == 400
    assert len(audit_events(session, "retention.account_storage_time_changed", account.id)) == 2
    refused = client.put("/api/v1/retention", headers=headers, json={"storage_times": {"outbound_messages": 91, "nonsense": 3}})
    assert refused.status_code == 422
    assert set(refused.json()["fields"]) == {"outbound_messages", "nonsense"}
    for wrong in (2.5, True, "seven", -1, 0, 2**31, 2**63, 2**64, 2**70):
        answer = client.put("/api/v1/retention", headers=headers, json={"storage_times": {"users": wrong}})
        assert answer.status_code == 422 and answer.json()["fields"], (wrong, answer.text)
    dropped = client.put("/api/v1/retention", headers=headers, json={"storage_times": {"outbound_messages": None}})
    assert {entry["category"]: entry for entry in dropped.json()["categories"]}["outbound_messages"]["days_in_force"] == 90
    sender_headers = {"Authorization": f"Bearer {sender}"}
    assert client.get("/api/v1/retention", headers=sender_headers).status_code == 403
    assert client.put("/api/v1/retention", headers=sender_headers, json={"storage_times": {"users": 1}}).status_code == 403
    assert storage_time_in_force(session, account.id, "users") == 30


def test_a_change_makes_the_dpa_offer_a_new_version(client: TestClient, session: Session, settings: Settings, keys: KeyRing) -> None:
    from govsms.dpa import service
    from tests.dpa.test_dpa import provider_and_customer
    from tests.factories import system

    _provider, customer = provider_and_customer(session)
    actor = system(customer)
    version, _created = service.generate(session, settings, keys, actor, lang="en", now=__import__("tests.factories").factories.now())
    assert not service.dpa_status(session, settings, keys, actor).new_version_available
    user, password = make_user(session, customer, roles={Role.ADMIN})
    login(client, user.email, password)
    assert post_form(client, "/settings/retention", {"days-outbound_messages": "30"}, token_from="/settings/retention").status_code == 303
    status = service.dpa_status(session, settings, keys, actor)
    assert status.new_version_available
    assert [(change.kind, change.subject, change.before, change.after) for change in status.changes] == [
        ("storage_time", "outbound_messages", 90, 30)
    ]
    assert "Skickade sms" in client.get("/dpa").text and "från 90 dagar till 30 dagar" in client.get("/dpa").text
    assert version.number == 1
