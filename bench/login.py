"""Figures of the accounts core: password hashing cost and session resolution per request.

Run with `make bench`. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from govsms.accounts.actor import Actor
from govsms.accounts.login import LoginPolicy, authenticate, resolve_login_session, start_login_session
from govsms.accounts.roles import Role
from govsms.accounts.service import create_account, create_user
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.migrate import upgrade


def main() -> None:
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    policy, now = LoginPolicy(), datetime.now(UTC)
    with session_scope(factory) as session:
        account = create_account(session, name="Bench AB", now=now)
        create_user(
            session, Actor.system(account.id, account.name), email="bench@example.se",  # type: ignore[arg-type]
            password="bench-password-123", roles={Role.SENDER}, now=now,
        )
    logins = []
    for _ in range(10):
        started = time.perf_counter()
        with session_scope(factory) as session:
            user = authenticate(session, email="bench@example.se", password="bench-password-123", policy=policy, now=now)
            token = start_login_session(session, user, policy=policy, now=now)
        logins.append(time.perf_counter() - started)
    resolves = []
    for _ in range(2000):
        started = time.perf_counter()
        with session_scope(factory) as session:
            assert resolve_login_session(session, token, policy=policy, now=now) is not None
        resolves.append(time.perf_counter() - started)
    print(f"login (argon2id verify + session): median {statistics.median(logins) * 1000:.1f} ms")
    print(f"session cookie -> actor:           median {statistics.median(resolves) * 1000:.3f} ms "
          f"(p99 {sorted(resolves)[int(len(resolves) * 0.99)] * 1000:.3f} ms)")


if __name__ == "__main__":
    main()
