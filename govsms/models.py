"""Imports every domain's tables so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from govsms.accounts.models import Account, ApiKey, LoginSession, User

metadata = SQLModel.metadata

__all__ = ["Account", "ApiKey", "LoginSession", "User", "metadata"]
