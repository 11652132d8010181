"""The one clock: what time it is (``Clock``, aware UTC) and how people read it (their account's zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIMEZONE = "Europe/Stockholm"
"""The zone of an account that names none (or one this system does not know)."""
LOCAL_TIME = ZoneInfo(DEFAULT_TIMEZONE)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock: what the service runs on."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move: for tests (``step``, ``set``)."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at

    def step(self, delta: timedelta) -> datetime:
        self.at += delta
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)


SYSTEM_CLOCK: Clock = SystemClock()


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this system knows (``Europe/Helsinki``; not ``Europe``,
    ``CET+1`` or a path)."""
    return name in _known_zones()


def zone(name: str | None) -> ZoneInfo:
    """The zone named, or Europe/Stockholm when none is named or the name is no known zone (only
    known names reach ZoneInfo, which would read a directory or a path it was given)."""
    return ZoneInfo(name) if name and is_timezone(name) else LOCAL_TIME


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", timezone: str | None = None) -> str:
    """``value`` as read in ``timezone`` (Europe/Stockholm when none is known)."""
    return "" if value is None else value.astimezone(zone(timezone)).strftime(fmt)
