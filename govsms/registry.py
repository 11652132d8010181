"""The personal-data registry: every domain's declared holdings in one list (see
``govsms.personal_data``). An entry point, beside ``govsms.models``: it imports every domain, so
no domain imports it; the callers that iterate it (the app, the CLI, tests) hand it down."""

from __future__ import annotations

from govsms.accounts import personal_data as accounts
from govsms.audit import personal_data as audit
from govsms.contacts import personal_data as contacts
from govsms.dpa import personal_data as dpa
from govsms.keys import personal_data as keys
from govsms.personal_data import Holding
from govsms.retention import personal_data as retention
from govsms.sending import personal_data as sending

DOMAINS = (keys, accounts, retention, audit, contacts, sending, dpa)


def all_holdings() -> tuple[Holding, ...]:
    """Every table that holds personal data, as its domain declares it."""
    return tuple(holding for domain in DOMAINS for holding in domain.HOLDINGS)

