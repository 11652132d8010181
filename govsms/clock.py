"""The one clock: what time it is (``Clock``, aware UTC) and how people read it (their account's zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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


def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this system knows (``Europe/Helsinki``; not ``CET+1`` or a path)."""
    return name in available_timezones()


def zone(name: str | None) -> ZoneInfo:
    """The zone named, or Europe/Stockholm when none is named or the name is unknown."""
    if not name:
        return LOCAL_TIME
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return LOCAL_TIME


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", timezone: str | None = None) -> str:
    """``value`` as read in ``timezone`` (Europe/Stockholm when none is known)."""
    return "" if value is None else value.astimezone(zone(timezone)).strftime(fmt)
