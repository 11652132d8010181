"""Requests per client address in a sliding minute, in this process: the public opt-out page's
limit, so nobody can walk the space of link tokens from one address.

An IPv6 client holds a whole /64 (its router hands out addresses from it at will), so the /64
counts as one address; an IPv4-mapped IPv6 address counts as its IPv4 address.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque


def address_key(address: str) -> str:
    """What the limit counts: the IPv4 address, or the /64 of an IPv6 address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket): counted as given
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class AddressLimiter:
    """At most ``per_minute`` requests per address in any 60 seconds. Memory is bounded: past
    ``max_addresses`` the addresses idle longest are forgotten."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, *, max_addresses: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_addresses = max_addresses
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def clock(self) -> float:
        return time.monotonic()

    def __len__(self) -> int:
        return len(self._hits)

    def hit(self, address: str) -> int | None:
        """Count a request; None if it may go on, else the seconds until one may."""
        key = address_key(address)
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.WINDOW:
                hits.popleft()
            self._hits[key] = hits  # re-inserted: the dict stays ordered by last use
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[0] + self.WINDOW - now))
            hits.append(now)
            if len(self._hits) > self.max_addresses:
                for stale in list(self._hits)[: len(self._hits) - self.max_addresses]:
                    del self._hits[stale]
            return None
