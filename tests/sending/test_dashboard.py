"""The dashboard (issue 15 item 2): this month's messages, parts and cost (the roll-up's finished
days and, live, the rest: an SMS sent a minute ago counts), the last dispatches with their status,
unread replies, and shortcuts by role; another account's never show. Both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from litestar.testing import TestClient
from sqlalchemy import delete, update
from sqlmodel import Session, col

from govsms.auth import Role
from govsms.clock import FixedClock
from govsms.sending import dashboard
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from govsms.sending.statistics import roll_up
from govsms.sending.statistics_ui import count_text
from govsms.sending.status import MessageStatus
from tests.factories import make_account, make_user, system
from tests.receiving.inbox_helpers import stored_inbound
from tests.web_helpers import login

MIDMONTH = datetime(2026, 11, 15, 11, 0, tzinfo=UTC)
"""A fixed "now" in the middle of a month (Stockholm: 12:00), so the test means the same any day."""
URL = "https://sms.example.se"


def send(session: Session, account, numbers: list[str], *, at: datetime, text: str = "Hej från skolan", **extra: object) -> int:  # type: ignore[no-untyped-def]
    summary = create_dispatch(session, system(account), DispatchRequest(sender="Skolan", text=text, numbers=numbers, **extra),  # type: ignore[arg-type]
                              public_url=URL, now=at)
    assert summary.dispatch_id is not None
    return summary.dispatch_id


def figure(page: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}" data-value="(\d+)">([^<]*)<', page)
    assert found, f"no {name} figure"
    return found.group(1) + "|" + found.group(2)


def test_the_month_counts_the_roll_up_of_finished_days_and_the_messages_of_the_rest(session: Session) -> None:
    seed_default_prices(session, now=MIDMONTH)
    ours, theirs = make_account(session), make_account(session)
    delivered = send(session, ours, ["0701000001", "0701000002"], at=MIDMONTH - timedelta(days=5))  # day 10: rolled up, then purged
    send(session, ours, ["0701000003"], at=MIDMONTH - timedelta(days=20))  # last month
    send(session, ours, ["0701000004"], at=MIDMONTH - timedelta(days=4), send_at=MIDMONTH + timedelta(days=3))  # day 11: still waits
    send(session, theirs, ["0701000005"], at=MIDMONTH - timedelta(days=5))
    session.execute(update(OutboundMessage).where(col(OutboundMessage.dispatch_id) == delivered).values(status=MessageStatus.DELIVERED))
    roll_up(session, now=MIDMONTH - timedelta(days=2))  # days up to the 12th rolled up; the 10th complete
    session.execute(delete(OutboundMessage).where(col(OutboundMessage.account_id) == ours.id,
                                                  col(OutboundMessage.created_at) < MIDMONTH - timedelta(days=4, hours=12)))
    send(session, ours, ["0701000006"], at=MIDMONTH - timedelta(minutes=1), text="x" * 200)  # today, two parts, not rolled up

    figures = dashboard.month_so_far(session, system(ours), now=MIDMONTH)
    assert (figures.messages, figures.parts) == (4, 5)  # 2 purged but rolled up, 1 waiting, 1 today (2 parts)
    assert figures.cost_minor > 0
    assert dashboard.month_so_far(session, system(theirs), now=MIDMONTH).messages == 1
    assert dashboard.month_so_far(session, system(ours), now=MIDMONTH + timedelta(days=20)).messages == 0  # next month


def test_counts_are_readable() -> None:
    assert count_text(1234) == "1\u00a0234" and count_text(7) == "7" and count_text(1234567) == "1\u00a0234\u00a0567"


def test_the_sender_sees_the_months_figures_the_last_dispatches_and_unread_replies(client: TestClient, session: Session) -> None:
    client.app.state.clock = FixedClock(MIDMONTH)
    seed_default_prices(session, now=MIDMONTH)
    ours, theirs = make_account(session), make_account(session)
    first = send(session, ours, ["0701000001", "0701000002"], at=MIDMONTH - timedelta(hours=2), text="Hemlig text om mötet")
    later = send(session, ours, ["0701000003"], at=MIDMONTH - timedelta(hours=1), send_at=MIDMONTH + timedelta(days=1))
    hidden = send(session, theirs, ["0701000004", "0701000005", "0701000006"], at=MIDMONTH - timedelta(hours=1))
    stored_inbound(session, ours, "+46701000001", "Ja tack")
    stored_inbound(session, theirs, "+46701000004", "Nej")
    stored_inbound(session, theirs, "+46701000005", "Kanske")
    user, password = make_user(session, ours, roles={Role.SENDER})
    login(client, user.email, password)

    page = client.get("/")
    assert page.status_code == 200
    assert figure(page.text, "messages") == "3|3"  # the other account's three never count
    assert figure(page.text, "parts") == "3|3"
    cost = int(figure(page.text, "cost").split("|")[0])
    assert cost > 0 and figure(page.text, "cost").endswith(f"{cost // 100},{cost % 100:02d}\u00a0kr")
    assert f'href="/messages/{first}"' in page.text and f'href="/messages/{later}"' in page.text
    assert f'href="/messages/{hidden}"' not in page.text
    assert "Väntar på att skickas" in page.text and "Schemalagt" in page.text
    assert "Hemlig text" not in page.text and "0701000001" not in page.text and "701000001" not in page.text
    assert 'data-figure="unread">1<' in page.text and "oläst svar" in page.text and 'href="/inbox"' in page.text
    assert 'href="/send"' in page.text and "Avsändare" in page.text

    session.execute(update(OutboundMessage).where(col(OutboundMessage.dispatch_id) == first).values(status=MessageStatus.DELIVERED))
    row = client.get("/").text.split(f'href="/messages/{first}"')[1].split("</tr>")[0]
    assert "Slutfört" in row and "levererat 2" in row  # every message final: done, not "queued"
    assert "skickas " in client.get("/").text.split(f'href="/messages/{later}"')[1].split("</tr>")[0]  # still waits: when it goes
    session.execute(update(OutboundMessage).where(col(OutboundMessage.dispatch_id) == later).values(status=MessageStatus.DELIVERED))
    row = client.get("/").text.split(f'href="/messages/{later}"')[1].split("</tr>")[0]
    assert "Slutfört" in row and "skickas " not in row  # scheduled once, delivered since: no send time under it

    # Another account's sender sees its own: two unread, three messages, none of ours.
    other, other_password = make_user(session, theirs, roles={Role.SENDER})
    client.cookies.clear()
    login(client, other.email, other_password)
    page = client.get("/")
    assert figure(page.text, "messages") == "3|3" and 'data-figure="unread">2<' in page.text
    assert f'href="/messages/{hidden}"' in page.text and f'href="/messages/{first}"' not in page.text


def test_each_role_gets_its_own_shortcuts_and_only_what_it_may_read(client: TestClient, session: Session) -> None:
    account = make_account(session)
    send_account = make_account(session)
    seed_default_prices(session, now=MIDMONTH)
    send(session, account, ["0701000001"], at=MIDMONTH)
    auditor, auditor_password = make_user(session, account, roles={Role.AUDITOR})
    login(client, auditor.email, auditor_password)
    page = client.get("/").text
    assert "month-figures" not in page and "recent-dispatches" not in page and "unread-replies" not in page
    assert 'href="/audit"' in page and 'href="/send"' not in page and "Granskare" in page

    admin, admin_password = make_user(session, account, roles={Role.ADMIN})
    client.cookies.clear()
    login(client, admin.email, admin_password)
    page = client.get("/").text
    assert "month-figures" in page and "unread-replies" in page and "Inga olästa svar" in page
    assert "recent-dispatches" not in page and 'href="/send"' not in page  # no permission to read or send
    assert 'href="/settings/users"' in page and 'href="/statistics"' in page

    both, both_password = make_user(session, send_account, roles={Role.ADMIN, Role.SENDER})
    client.cookies.clear()
    login(client, both.email, both_password)
    page = client.get("/").text
    sender_part, admin_part = page.split('id="role-sender"')[1].split('id="role-admin"')  # the sender's first
    assert 'href="/statistics"' in sender_part and 'href="/statistics"' not in admin_part  # each page once, under the first role
    assert 'href="/settings/users"' in admin_part and 'href="/send"' in sender_part
    assert "Inget skickat ännu" in page and 'data-figure="messages" data-value="0">0<' in page
