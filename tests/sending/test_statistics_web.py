"""The statistics pages, the Excel export and the API (issue 12 item 4): a sender and an admin
see their account's figures, an auditor is refused, another account's never show; a day's SMS
are found by number with POST and their texts shown on request (recorded). Both backends."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.clock import zone
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.pricing import seed_default_prices
from govsms.sending.statistics import local_day, report, roll_up
from tests.factories import audit_events, make_account, make_api_key, make_user, now, system
from tests.web_helpers import login, post_form

NUMBER = "+46701234567"
OTHER_NUMBER = "+46702345678"


def sent(session: Session):  # type: ignore[no-untyped-def]
    """Two accounts that sent today; rolled up."""
    seed_default_prices(session, now=now())
    ours, theirs = make_account(session), make_account(session)
    for account, numbers, text in ((ours, [NUMBER, OTHER_NUMBER], "Hej från skolan"), (theirs, [NUMBER] * 1 + ["+46703000000"] * 1, "Hemligt")):
        create_dispatch(session, system(account), DispatchRequest(sender="Skolan", text=text, numbers=numbers), public_url="https://sms.example",
                        now=now())
    create_dispatch(session, system(theirs), DispatchRequest(sender="Skolan", text="Mer", numbers=["+46704000000"] * 1),
                    public_url="https://sms.example", now=now())
    roll_up(session, now=now())
    return ours, theirs


def test_the_sender_sees_the_accounts_figures_and_the_auditor_is_refused(client: TestClient, session: Session) -> None:
    ours, theirs = sent(session)
    user, password = make_user(session, ours, roles={Role.SENDER})
    login(client, user.email, password)
    page = client.get("/statistics")
    assert page.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="statistics-chart"' in page.text
    assert '<dd id="total-messages">2</dd>' in page.text  # the other account's 3 never count
    today = local_day(now(), zone(None)).isoformat()
    assert f'href="/statistics/day?day={today}"' in page.text
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and 'id="month-messages" data-figure="messages" data-value="2">2</dd>' in dashboard.text
    assert f'href="/statistics.xlsx?from={today[:8]}01&amp;to={today}"' in page.text
    refused = client.get("/statistics", params={"from": "2026-13-01"})
    assert refused.status_code == 422 and 'id="from-error"' in refused.text
    assert client.get("/statistics", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422

    auditor, auditor_password = make_user(session, ours, roles={Role.AUDITOR})
    client.cookies.clear()
    login(client, auditor.email, auditor_password)
    assert client.get("/statistics").status_code == 403
    assert client.get("/statistics.xlsx").status_code == 403
    assert client.get("/statistics/day", params={"day": today}).status_code == 403
    assert "month-figures" not in client.get("/").text


def test_the_excel_export_has_the_days_and_totals_of_the_roll_up(client: TestClient, session: Session) -> None:
    ours, _theirs = sent(session)
    admin, password = make_user(session, ours, roles={Role.ADMIN})
    login(client, admin.email, password)
    today = local_day(now(), zone(None))
    first = today - timedelta(days=3)
    response = client.get("/statistics.xlsx", params={"from": first.isoformat(), "to": today.isoformat()})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))  # type: ignore[union-attr]
    figures = report(session, system(ours), start=first, end=today)
    assert [row[0].date() for row in rows[1:-1]] == [first + timedelta(days=offset) for offset in range(4)]  # type: ignore[union-attr]
    assert [row[1] for row in rows[1:-1]] == [row.messages for row in figures.rows]
    assert rows[-1][1:4] == (figures.totals.messages, figures.totals.parts, figures.totals.cost_minor / 100) and figures.totals.messages == 2
    # The admin sees the figures but not the messages (no permission to read them).
    assert client.get("/statistics/day", params={"day": today.isoformat()}).status_code == 403


def test_a_day_lists_its_sms_finds_one_by_number_and_shows_texts_on_request(client: TestClient, session: Session) -> None:
    ours, theirs = sent(session)
    user, password = make_user(session, ours, roles={Role.SENDER})
    login(client, user.email, password)
    today = local_day(now(), zone(None)).isoformat()
    day = client.get("/statistics/day", params={"day": today})
    assert day.status_code == 200 and f'href="/statistics?from={today}&amp;to={today}"' in day.text  # back to the day's figures
    assert "+46 70 *** ** 67" in day.text and NUMBER not in day.text and "Hej från skolan" not in day.text
    assert "+46 70 *** 03 00" not in day.text  # the other account's message
    found = post_form(client, "/statistics/day/search", {"day": today, "number": "070-123 45 67"}, token_from="/statistics")
    assert found.status_code == 200 and "+46 70 *** ** 67" in found.text and "*** ** 78" not in found.text
    texts = post_form(client, "/statistics/day/texts", {"day": today, "number": ""}, token_from="/statistics")
    assert texts.status_code == 200 and "Hej från skolan" in texts.text and "Hemligt" not in texts.text
    [event] = audit_events(session, "message.text_shown", ours.id)
    assert event.account_id == ours.id
    assert audit_events(session, "message.text_shown", theirs.id) == []


def test_the_api_groups_by_day_country_sender_kind_and_status(client: TestClient, session: Session) -> None:
    ours, _theirs = sent(session)
    _key, secret = make_api_key(session, ours, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {secret}"}
    today = local_day(now(), zone(None)).isoformat()
    by_day = client.get("/api/v1/statistics", params={"from": today, "to": today}, headers=headers)
    assert by_day.status_code == 200, by_day.text
    body = by_day.json()
    assert body["from"] == today and body["to"] == today and body["rows"][0]["key"] == today and body["totals"]["messages"] == 2
    assert body["totals"]["cost"]["unit"] == "minor"
    for group_by, keys in (("country", {"SE"}), ("sender_kind", {"alphanumeric"}), ("status", {"queued"})):
        grouped = client.get("/api/v1/statistics", params={"from": today, "to": today, "group_by": group_by}, headers=headers).json()
        assert {row["key"] for row in grouped["rows"]} == keys and grouped["totals"]["messages"] == 2
    assert client.get("/api/v1/statistics", params={"group_by": "number"}, headers=headers).status_code in (400, 422)
    assert client.get("/api/v1/statistics", params={"from": "2020-01-01", "to": "2026-01-01"}, headers=headers).status_code == 422
    _auditor_key, auditor_secret = make_api_key(session, ours, roles={Role.AUDITOR})
    assert client.get("/api/v1/statistics", headers={"Authorization": f"Bearer {auditor_secret}"}).status_code == 403


def test_the_statistics_adapters_leave_the_sync_warning_to_the_controller() -> None:
    """web/controller.py's filter covers every *_ui/*_api module: these two set none of their own,
    and with the controller's filter in place (pytest resets filters between tests, so its module
    runs again here) declaring their handlers warns of no synchronous callable."""
    import inspect
    import types
    import warnings

    from litestar.exceptions import LitestarWarning

    from govsms.sending import statistics_api, statistics_ui
    from govsms.web import controller

    def run(module: types.ModuleType) -> None:
        exec(compile(inspect.getsource(module), inspect.getfile(module), "exec"), {"__name__": module.__name__})  # noqa: S102  (a module's own source)

    for module in (statistics_ui, statistics_api):
        assert "filterwarnings" not in inspect.getsource(module), module.__name__
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", category=LitestarWarning)
            run(controller)
            run(module)
        assert not [str(warning.message) for warning in caught if "synchronous callable" in str(warning.message)], module.__name__
    with warnings.catch_warnings(record=True) as caught:  # the check sees the warning where no filter covers it
        warnings.filterwarnings("always", category=LitestarWarning)
        run(statistics_ui)
    assert [warning for warning in caught if "synchronous callable" in str(warning.message)]
