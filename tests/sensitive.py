"""Values no log line may hold: factories register every password, key and number they make."""

from __future__ import annotations

_values: set[str] = set()


def register(value: str) -> str:
    if value:
        _values.add(value)
    return value


def values() -> frozenset[str]:
    return frozenset(_values)


def forget_since(before: frozenset[str]) -> None:
    """Forget the values registered after ``before`` was taken: what one test sealed is checked
    against that test's log lines, not against every later test's (a sealed "stopp" would
    otherwise flag a later "worker stopped")."""
    _values.intersection_update(before)
