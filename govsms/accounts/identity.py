"""Who stands behind a request: its API key or login session, resolved for the web layer (which
calls it as ``state.resolve_actor``, so that ``govsms.web`` imports no domain)."""

from __future__ import annotations

from typing import Any

from govsms.accounts.apikey import lookup_api_key, touch_api_key
from govsms.accounts.login import lookup_login_session, touch_login_session
from govsms.auth import Actor
from govsms.clock import SYSTEM_CLOCK
from govsms.db import WAIT_OPTION, is_busy, session_scope


def resolve_actor(state: Any, bearer: str | None, session_token: str | None) -> Actor | None:
    """Who is acting: a read, so it never waits for a writer. The key's last use or the session's
    sliding expiry is written now and then, in a short transaction that gives up at once if the
    database is busy (the next request writes it)."""
    now = getattr(state, "clock", SYSTEM_CLOCK).now()
    with session_scope(state.read_factory) as session:
        if bearer:
            actor, touch = lookup_api_key(session, bearer, now=now)
        else:
            assert session_token is not None
            actor, touch = lookup_login_session(session, session_token, now=now)
    if actor is not None and touch:
        try:
            with session_scope(state.session_factory) as session:
                session.connection(execution_options={WAIT_OPTION: 0.05})
                if bearer:
                    assert actor.id is not None  # an API key's actor: the key's id
                    touch_api_key(session, actor.id, now=now)
                else:
                    assert session_token is not None
                    touch_login_session(session, session_token, policy=state.login_policy, now=now)
        except Exception as error:
            if not is_busy(error):
                raise
    return actor
