"""Fixtures the receiving tests share."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from govsms.receiving.routing import provider_account_id
from tests.factories import make_account


@pytest.fixture
def provider(session: Session) -> int:
    """The provider's account (unrouted SMS belong to it), made when the database has none."""
    try:
        return provider_account_id(session)
    except Exception:  # noqa: BLE001  (no provider account in this database yet)
        return int(make_account(session, is_provider=True).id)  # type: ignore[arg-type]
