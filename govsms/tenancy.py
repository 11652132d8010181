"""Tenancy: which rows belong to which account, and the one way services read and write them.

Every service read and write of account data goes through ``scoped`` (a select of the actor's
rows), ``owned_by`` (the same filter for a join, a column select or a bulk statement),
``get_scoped`` (one row, or ``NotFound`` for a row of another account) and ``delete_scoped``.
``tests/test_tenancy.py`` fails if the account filter is written by hand anywhere else."""

from __future__ import annotations

from typing import Any, TypeVar, cast, overload

import sqlalchemy
from sqlalchemy import Delete, Select, delete
from sqlalchemy.sql import ColumnElement, FromClause
from sqlmodel import Field, Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from govsms.auth import Actor
from govsms.errors import NotFound

Owned = TypeVar("Owned")


class AccountOwned(SQLModel):
    """A table whose rows belong to one account. Tables whose ``account_id`` differs (the access
    log's may be empty; the DPA details are keyed by it) declare their own column over this one."""

    account_id: int = Field(foreign_key="account.id", index=True)


def _account_column(model: Any) -> Any:
    return model.c.account_id if isinstance(model, FromClause) else model.account_id


def owned_by(model: Any, owner: Actor | int) -> ColumnElement[bool]:
    """The filter "rows of the actor's account" on ``model`` (an ORM class or a table); a job
    without an actor (the worker, the scheduler) names the account by its id."""
    account_id = owner.account_id if isinstance(owner, Actor) else owner
    condition: ColumnElement[bool] = _account_column(model) == account_id
    return condition


@overload
def scoped(model: type[Owned], actor: Actor) -> SelectOfScalar[Owned]: ...
@overload
def scoped(model: FromClause, actor: Actor) -> Select[Any]: ...
@overload
def scoped(model: Any, actor: Actor, *columns: Any) -> Any: ...
def scoped(model: Any, actor: Actor, *columns: Any) -> Any:
    """``select(model)`` (or of ``columns``) of the actor's account's rows only: SQLModel's
    select for a model, so ``session.exec`` gives the objects; SQLAlchemy's for a table's rows."""
    entities = columns or (model,)
    if isinstance(model, FromClause) and not columns:
        return sqlalchemy.select(model).where(owned_by(model, actor))
    return select(*entities).where(owned_by(model, actor))


def get_scoped(session: Session, model: type[Owned], row_id: Any, actor: Actor, *, missing: str) -> Owned:
    """The row ``row_id`` of the actor's account; ``NotFound(missing)`` for none, or for another
    account's (the two are not told apart)."""
    row: Owned | None = session.execute(scoped(model, actor).where(cast(Any, model).id == row_id)).scalars().first()
    if row is None:
        raise NotFound(missing)
    return row


def delete_scoped(model: Any, actor: Actor) -> Delete:
    """``delete(model)`` of the actor's account's rows only (add the rows' own filter)."""
    return delete(model).where(owned_by(model, actor))
