"""The admin's STOP page, on both backends: the confirmation text saved (audited) and then sent
on a STOP; emptied, nothing is sent; overlong or control characters refused with a reason; a
sender gets no page; one account's setting is not another's."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.audit.models import AuditEvent
from govsms.auth import Role
from govsms.receiving.routing import provider_account_id
from govsms.receiving.service import route_inbound
from govsms.sending.models import Dispatch, VirtualNumber
from tests import sensitive
from tests.factories import make_account, make_user, now
from tests.web_helpers import login, post_form

NUMBER = sensitive.register("+46701234567")


def test_the_admin_sets_the_confirmation_and_a_stop_sends_it(client: TestClient, session: Session) -> None:
    try:
        provider_account_id(session)
    except Exception:  # noqa: BLE001  (none in this database yet)
        make_account(session, is_provider=True)
    account, other = make_account(session), make_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, password)
    assert "0" in client.get("/inbox/stop").text
    saved = post_form(client, "/inbox/stop", {"text": "  Du får inga fler sms från oss.  "}, token_from="/inbox/stop")
    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).stop_confirmation_text == "Du får inga fler sms från oss."  # type: ignore[union-attr]
    assert session.get(Account, other.id).stop_confirmation_text is None  # type: ignore[union-attr]
    [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "account.stop_confirmation_changed")).scalars().all()
    assert event.account_id == account.id
    for hostile, reason in (("x" * 321, "321"), ("Hej\x07då", "inte är giltig text")):
        refused = post_form(client, "/inbox/stop", {"text": hostile}, token_from="/inbox/stop")
        assert refused.status_code == 422 and reason in refused.text
    session.add(VirtualNumber(number="+46766000031", account_id=account.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    stop = route_inbound(session, source_e164=NUMBER, destination="46766000031", text="Stopp", transport="smpp", provider_ref=None,
                         parts=1, now=now())
    assert stop is not None and stop.stop
    confirmation = session.execute(select(Dispatch).where(Dispatch.account_id == account.id, Dispatch.channel == "stop")).scalar_one()
    assert confirmation.sender == "46766000031" and confirmation.cost_minor == 0
    assert "1" in client.get("/inbox/stop").text
    assert post_form(client, "/inbox/stop", {"text": ""}, token_from="/inbox/stop").status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).stop_confirmation_text is None  # type: ignore[union-attr]
    count = select(func.count()).select_from(Dispatch).where(Dispatch.account_id == account.id)
    assert session.execute(count).scalar_one() == 1


def test_a_sender_gets_no_stop_page(client: TestClient, session: Session) -> None:
    account = make_account(session)
    sender, password = make_user(session, account, roles={Role.SENDER})
    login(client, sender.email, password)
    assert client.get("/inbox/stop").status_code in (403, 404)
