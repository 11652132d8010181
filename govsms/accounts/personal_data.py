"""The accounts domain's tables that hold personal data: the customer's users, their logins and
their API keys (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.accounts.login import purge_expired_sessions
from govsms.i18n import N_
from govsms.personal_data import Holding, Link

KEPT = N_("Staff and agreement data: not about the people SMS are sent to")
"""Why an erasure keeps these rows: they are about the customer's staff."""

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="app_user", link=Link.ACCOUNT, category="users",
        description=N_("Users: name, work e-mail address, roles, password hash, login times, two-step login secret"),
        sealed=("totp_secret_ct",), clear=("email", "display_name"),
        kept=KEPT,
    ),
    Holding(
        table="login_session", link=Link.ACCOUNT, category="users", via="app_user",
        description=N_("Login sessions: a hash of the session token and its times"),
        purge=purge_expired_sessions,
        kept=KEPT,
    ),
    Holding(
        table="recovery_code", link=Link.ACCOUNT, category="users", via="app_user",
        description=N_("Recovery codes for two-step login (hashed)"),
        kept=KEPT,
    ),
    Holding(
        table="api_key", link=Link.ACCOUNT, category="users",
        description=N_("API keys: their names (which may name a person) and who made them"),
        clear=("name",),
        kept=KEPT,
    ),
)
