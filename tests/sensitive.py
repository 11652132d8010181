"""Values no log line may hold: factories register every password, key and number they make."""

from __future__ import annotations

_values: set[str] = set()


def register(value: str) -> str:
    if value:
        _values.add(value)
    return value


def values() -> frozenset[str]:
    return frozenset(_values)
