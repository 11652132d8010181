"""One request, one transaction, begun and ended in the thread that does the request's work."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from govsms.db import READ_FIRST_OPTION, is_stale_read
from govsms.errors import GovsmsError, OutcomeUnknown
from govsms.i18n import _


class Transactional(Protocol):
    """A function run in a transaction of its own; ``transactional`` marks it so (``app.py`` wraps
    each handler once)."""

    transactional: bool

    def __call__(self, **kwargs: Any) -> Any: ...


def in_transaction(fn: Callable[..., Any], *, read_first: bool = False) -> Transactional:
    """One request, one transaction, begun and ended in the thread that runs the handler: commit
    when it returns, roll back if it raised. Nothing a request holds (a row lock, SQLite's write
    turn) then waits for another thread, and a handler that answered committed what it says.

    ``read_first`` (GET): on SQLite the transaction begins without the write turn, so reading
    never queues behind writers; one that then writes (an audit event) and finds that another
    writer committed since it began is run once more, taking the turn from the start."""

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        session = kwargs.get("db")
        if session is None:
            return fn(**kwargs)
        try:
            if read_first:
                session.connection(execution_options={READ_FIRST_OPTION: True})
                try:
                    result = fn(**kwargs)
                    _commit(session)
                    return result
                except Exception as error:
                    if not is_stale_read(error):
                        raise
                    session.rollback()
            result = fn(**kwargs)
            _commit(session)
            return result
        except BaseException as error:
            if isinstance(error, GovsmsError) and error.recorded:
                _commit(session)  # a refusal that is itself a read in the access log: its event stays
            else:
                session.rollback()
            raise
        finally:
            session.close()

    marked = cast(Transactional, run)
    marked.transactional = True
    return marked


def _commit(session: Session) -> None:
    """Commit; a connection lost while committing leaves the outcome unknown, and the answer says
    so (not "busy, nothing was saved", which would invite a retry that sends twice)."""
    try:
        session.commit()
    except DBAPIError as error:
        if isinstance(error, IntegrityError):
            raise  # refused: nothing was committed
        raise OutcomeUnknown(_(
            "The database stopped answering while this was being saved, so it may or may not have been saved. "
            "Look before you try again; an API client can repeat the request with the same Idempotency-Key."
        )) from error
