"""Banners: notices at the top of every page for the actors they concern (a new sub-processor
that takes effect soon, for a customer's admins). Domains give them through functions the app
hands down in ``app.state.banners``, so this module imports no domain."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from govsms.auth import Actor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Banner:
    text: str
    """In the page's language already."""
    link: str | None = None
    link_text: str | None = None


BannerSource = Callable[[Session, Actor, datetime], list[Banner]]
"""What one domain shows an actor now. It runs on every page: one cheap, indexed query."""


def banners_for(request: Request[Any, Any, Any], actor: Actor | None) -> list[Banner]:
    """Every banner for ``actor``: in the request's own transaction while the handler has one, else
    in a reading session of its own. A database that does not answer leaves them out: the page
    (an error page, say) still renders."""
    sources: list[BannerSource] = getattr(request.app.state, "banners", None) or []
    if actor is None or not sources:
        return []
    now: datetime = request.app.state.clock.now()
    found: list[Banner] = []
    try:
        own = request.state.get("db")
        if isinstance(own, Session) and own.in_transaction():
            for source in sources:
                found += source(own, actor, now)
        else:
            with request.app.state.read_factory() as session:
                for source in sources:
                    found += source(session, actor, now)
    except SQLAlchemyError:
        log.warning("banners left out: the database did not answer", exc_info=True)
    return found
